"""The embedded default morphable face model, built procedurally from code.

:func:`build_procedural_model` returns a :class:`~facegeom.morphable_model.MorphableModel`
in millimetres with the head centre at the origin (model space: x to the image right of a
frontal face, y up, z towards the camera).  The mean shape is the head surface of
:mod:`facegeom.face_surface`; the bases are displacement fields (N, 3) in that surface's
face frame, made orthonormal, with a standard deviation per component that gives each its
intended size:

* identity: named head-shape variations first (overall face size, face width and height,
  jaw width, nose size, eye spacing, chin, cheeks, brows, lips, ...), then random smooth
  fields (sums of Gaussian radial-basis bumps, mostly mirror-symmetric) of decreasing size;
  the sizes are calibrated to the landmark spread of real faces (:mod:`face_proportions`);
* expression: local facial actions (jaw open, smiles, pucker, brow raises, eye closing,
  ...), then small random bumps around the mouth, eyes and brows.

Each basis is orthonormal (Gram-Schmidt in priority order); the std of a component is
the size in mm intended for its field divided by the field's largest per-vertex
displacement, and the named components (sorted by std) come before the random ones,
whose std is scaled below theirs, so that std strictly decreases.  Expression component 0
is always the jaw opening; negative values of it push the lips through each other.

Everything is deterministic given ``seed`` (which only drives the random fields).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import solve_triangular

from facegeom import face_landmarks, face_surface
from facegeom.face_features import EYES, eye_closing, gauss, gauss_pair, jaw_weight, smoothstep
from facegeom.face_proportions import FACE_SIZE_CENTRE, FACE_SIZE_MM, ID_SPREAD
from facegeom.face_surface import HEAD_CENTRE, FaceSurface
from facegeom.morphable_model import MorphableModel

Field = tuple[str, np.ndarray, float]  # name, (N, 3) displacement, size in mm at one std


def _vec(fx: np.ndarray | float, fy: np.ndarray | float, fz: np.ndarray | float,
         n: int) -> np.ndarray:
    """(N, 3) field from three per-vertex components (scalars broadcast)."""
    return np.stack([np.broadcast_to(np.asarray(f, float), (n,)) for f in (fx, fy, fz)], -1)


def _mirror(surface: FaceSurface, field: np.ndarray) -> np.ndarray:
    """The mirror image (x -> -x) of an (N, 3) field."""
    return field[surface.mirror_index()] * np.array([-1.0, 1.0, 1.0])


def _local_gaussians(surface: FaceSurface) -> tuple[Callable, Callable]:
    """Gaussian bumps over the frontal position, faded out around the sides of the head
    (so that the back, which shares frontal positions with the cheeks, stays still)."""
    wrap = smoothstep(np.cos(surface.theta), -0.2, 0.3)

    def one(centre: tuple[float, float], sigma: tuple[float, float]) -> np.ndarray:
        return (gauss(surface.xy, centre, sigma) * wrap)[:, None]

    def pair(centre: tuple[float, float], sigma: tuple[float, float]) -> np.ndarray:
        return (gauss_pair(surface.xy, centre, sigma) * wrap)[:, None]

    return one, pair


def identity_fields(surface: FaceSurface) -> list[Field]:
    """Named identity variations (name, (N, 3) field, size in mm), by priority."""
    n, d, lay, front = len(surface.xy), surface.towards, surface.layers, surface.front[:, None]
    x, y, _ = surface.vertices.T
    g, g2 = _local_gaussians(surface)
    lower = smoothstep(-y, 25.0, 110.0)
    size = [("face_size", surface.vertices - np.asarray(FACE_SIZE_CENTRE), FACE_SIZE_MM)]
    return size + [(name, field, ID_SPREAD * mm) for name, field, mm in [
        ("face_width", _vec(x, 0.0, 0.0, n), 5.0),
        ("face_height", _vec(0.0, np.clip(y, -66.0, 0.0) * smoothstep(-y, 0.0, 20.0), 0.0, n), 2.5),
        ("jaw_width", _vec(x * lower, 0.0, 0.0, n), 5.0),
        ("forehead_slope", _vec(0.0, 0.0, -np.maximum(y - 15.0, 0.0), n) * front, 5.0),
        ("nose_height", lay["nose"][:, None] * front * d, 4.0),
        ("nose_length", _vec(0.0, -np.exp(-0.5 * (x / 14.0) ** 2) * smoothstep(-y, 0.0, 32.0)
                             * smoothstep(y, -62.0, -46.0), 0.0, n), 3.0),
        ("nose_width", _vec(x, 0.0, 0.0, n) * g((0.0, -40.0), (16.0, 8.0)), 2.5),
        ("eye_spacing", _vec(np.tanh(x / 6.0), 0.0, 0.0, n) * g2(EYES[0], (12.0, 10.0)), 3.0),
        ("chin_protrusion", _vec(0.0, -0.3, 1.0, n) * g((0.0, -100.0), (20.0, 14.0)), 4.0),
        ("cheek_fullness", g2((-42.0, -48.0), (16.0, 16.0)) * d, 3.0),
        ("brow_ridge", lay["brow"][:, None] * front * d, 2.5),
        ("lip_thickness", np.maximum(lay["lips"], 0.0)[:, None] * front * d, 2.0),
        ("eye_depth", lay["socket"][:, None] * front * d, 2.5),
        ("mouth_width", _vec(x, 0.0, 0.0, n) * g((0.0, -66.0), (16.0, 9.0)), 2.5),
        ("eye_height", _vec(0.0, 1.0, 0.0, n) * g2((-31.0, 6.0), (18.0, 14.0)), 3.0),
        ("mouth_height", _vec(0.0, 1.0, 0.0, n) * g((0.0, -66.0), (26.0, 12.0)), 3.0),
        ("cheekbones", lay["cheekbone"][:, None] * front * d, 2.0),
        ("chin_height", _vec(0.0, -smoothstep(-y, 66.0, 116.0), 0.0, n) * g((0.0, -90.0), (40.0, 1e3)),
         4.0),
        ("nasion_depth", _vec(0.0, 0.0, 1.0, n) * g((0.0, -2.0), (8.0, 10.0)), 2.5),
    ]]


def expression_fields(surface: FaceSurface) -> list[Field]:
    """Named local facial actions (name, (N, 3) field, size in mm), by priority."""
    n, xy, d = len(surface.xy), surface.xy, surface.towards
    x, y, z = surface.vertices.T
    g, g2 = _local_gaussians(surface)
    jaw = jaw_weight(xy, z)[:, None]
    hinge_y, hinge_z = HEAD_CENTRE[1] + 7.0, HEAD_CENTRE[2]
    cavity = 2.4 * jaw[:, 0] * (1.0 - jaw[:, 0]) * smoothstep(27.0 - np.abs(x), 0.0, 8.0)
    lips = g((0.0, -66.0), (20.0, 9.0))
    smile = (_vec(-0.45, 0.8, -0.4, n) * g((-25.0, -66.0), (9.0, 8.0))
             + _vec(0.0, 0.35, 0.15, n) * g((-35.0, -42.0), (14.0, 12.0)))
    brow = _vec(0.0, 1.0, 0.1, n) * g((-42.0, 18.0), (13.0, 12.0))
    eye = _vec(0.0, 0.0, 0.0, n)
    eye[:, 1], eye[:, 2] = eye_closing(xy, EYES[0])
    up, down, side = _vec(0.0, 1.0, 0.3, n), _vec(0.0, -1.0, 0.3, n), _vec(1.0, 0.0, 0.0, n)
    return [
        ("jaw_open", jaw * _vec(0.0, -(z - hinge_z), y - hinge_y + 40.0, n) / 100.0
         - _vec(0.0, 0.0, cavity, n), 7.0),
        ("smile_left", smile, 4.0),
        ("smile_right", _mirror(surface, smile), 4.0),
        ("lip_pucker", _vec(-x / 60.0, 0.0, 1.0, n) * lips, 5.0),
        ("mouth_stretch", _vec(x / 24.0, -0.1, 0.0, n) * g((0.0, -66.0), (24.0, 9.0)), 4.0),
        ("brow_raise_inner", _vec(0.0, 1.0, 0.1, n) * g((0.0, 20.0), (22.0, 14.0)), 4.0),
        ("brow_raise_left", brow, 3.5),
        ("brow_raise_right", _mirror(surface, brow), 3.5),
        ("brow_frown", _vec(-np.tanh(x / 8.0), -0.3, 0.2, n) * g2((-16.0, 14.0), (9.0, 8.0)), 3.5),
        ("eye_close_left", eye, 2.0),
        ("eye_close_right", _mirror(surface, eye), 2.0),
        ("cheek_puff", g2((-40.0, -58.0), (15.0, 13.0)) * d, 5.0),
        ("nose_wrinkle", up * g2((-12.0, -38.0), (6.0, 6.0)), 2.5),
        ("jaw_sideways", jaw * side, 2.5),
        ("jaw_forward", jaw * _vec(0.0, 0.0, 1.0, n), 2.0),
        ("chin_raise", _vec(0.0, 1.0, 0.6, n) * g((0.0, -90.0), (16.0, 9.0)), 3.0),
        ("upper_lip_raise", up * g((0.0, -60.0), (18.0, 5.0)), 2.5),
        ("lower_lip_depress", down * g((0.0, -74.0), (18.0, 6.0)), 3.0),
        ("squint", up * g2((-31.0, -4.0), (9.0, 4.0)), 1.5),
        ("mouth_sideways", side * g((0.0, -66.0), (24.0, 12.0)), 4.0),
        ("nostril_flare", _vec(np.sign(x), 0.0, 0.3, n) * g2((-14.0, -42.0), (4.0, 5.0)), 1.5),
        ("cheek_raise", up * g2((-33.0, -30.0), (14.0, 10.0)), 3.0),
    ]


def _rbf_field(surface: FaceSurface, rng: np.random.Generator, centres: np.ndarray,
               sigma: float) -> np.ndarray:
    """(N, 3) sum of Gaussian bumps (3D distance, ``sigma`` mm) at vertex ``centres`` with
    random vector weights, mostly along the feature direction."""
    p, out = surface.vertices, np.zeros_like(surface.vertices)
    for c in centres:
        vec = rng.normal(0.0, 0.4, 3) + rng.normal() * surface.towards[c]
        out += np.exp(-0.5 * ((p - p[c]) ** 2).sum(1) / sigma**2)[:, None] * vec
    return out


def random_identity_fields(surface: FaceSurface, rng: np.random.Generator,
                           count: int) -> list[Field]:
    """``count`` smooth random head-shape fields of decreasing width and size; four in five
    are mirror-symmetric, the others antisymmetric."""
    weight = (np.abs(surface.theta) <= np.deg2rad(100.0)) * (0.2 + surface.front)
    weight /= weight.sum()
    out = []
    for j in range(count):
        sigma = max(24.0 * (1.0 + j) ** -0.25, 8.0)
        field = _rbf_field(surface, rng, rng.choice(len(weight), 3, p=weight), sigma)
        sign = 1.0 if rng.random() < 0.8 else -1.0
        out.append((f"random_{j}", field + sign * _mirror(surface, field), 2.5 * (1.0 + j) ** -0.5))
    return out


def random_expression_fields(surface: FaceSurface, rng: np.random.Generator, count: int,
                             landmarks: np.ndarray) -> list[Field]:
    """``count`` small local random bumps centred on mouth, eye and brow landmarks."""
    anchors = landmarks[17:]
    out = []
    for j in range(count):
        sigma = rng.uniform(5.0, 10.0)
        field = _rbf_field(surface, rng, rng.choice(anchors, 1 + int(rng.integers(2))), sigma)
        out.append((f"random_{j}", field, 1.5 * (1.0 + j) ** -0.5))
    return out


def _gram_schmidt(a: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning those of ``a`` (3N, K), in order: column k is the part of
    field k orthogonal to the fields before it, with its sign kept (Cholesky QR, twice)."""
    q = a / np.linalg.norm(a, axis=0)
    for _ in range(2):
        q = solve_triangular(np.linalg.cholesky(q.T @ q), q.T, lower=True).T
    return q


def orthonormal_components(named: list[Field], extra: list[Field]) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal basis of the fields (:func:`_gram_schmidt`, named fields first, so the
    random ones do not disturb them), with the std giving each component its size.

    Returns:
        basis (3N, K) float64 (xyz interleaved) and std (K,), K = len(named) + len(extra);
        ``std[k] * max_v |basis[3v:3v+3, k]|`` is the size in mm given for field k.
    """
    q = _gram_schmidt(np.stack([f.reshape(-1) for _, f, _ in named + extra], 1))
    peak = np.linalg.norm(q.reshape(-1, 3, q.shape[1]), axis=1).max(0)
    return q, np.array([size for _, _, size in named + extra]) / peak


def _ordered(named: list[Field], extra: Callable[[int], list[Field]],
             k: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``k`` components: the named ones (by decreasing std) then ``extra(k - len)`` random
    ones scaled below them; std strictly decreasing.  Returns basis, std and names."""
    named = named[:k]
    random_fields = extra(k - len(named))
    basis, std = orthonormal_components(named, random_fields)
    names = [name for name, _, _ in named + random_fields]
    m = len(named)
    first = np.argsort(-std[:m], kind="stable")
    rest = m + np.argsort(-std[m:], kind="stable")
    if m < k:
        std[rest] *= min(1.0, 0.9 * std[:m].min() / std[rest[0]])
    order = np.concatenate([first, rest])
    std = std[order]
    for i in range(1, k):
        std[i] = min(std[i], std[i - 1] * (1.0 - 1e-4))
    return basis[:, order], std, [names[i] for i in order]


def build_procedural_model(n_id: int = 199, n_exp: int = 29, resolution: int = 64,
                           seed: int = 0) -> MorphableModel:
    """The procedural face model with ``n_id`` identity and ``n_exp`` expression components.

    Args:
        n_id: identity components (>= 1).
        n_exp: expression components (>= 1).
        resolution: rows of the surface grid (>= 8); 64 gives 64 x 81 = 5184 vertices; the
            68 landmarks are distinct vertices from about 48 up, semantically ordered from 24.
        seed: drives the random identity / expression fields only.
    Returns:
        The model in millimetres, head centre at the origin, name ``"procedural"``.
    """
    if n_id < 1 or n_exp < 1:
        raise ValueError(f"n_id and n_exp must be >= 1, got {n_id} and {n_exp}")
    surface = face_surface.build_surface(resolution)
    landmarks = face_landmarks.landmark_vertices(surface)
    left, right = face_landmarks.contour_candidates(surface, landmarks)
    rng_id, rng_exp = (np.random.default_rng([abs(int(seed)), k]) for k in (0, 1))
    id_basis, id_std, _ = _ordered(
        identity_fields(surface), lambda c: random_identity_fields(surface, rng_id, c), n_id)
    exp_basis, exp_std, _ = _ordered(
        expression_fields(surface),
        lambda c: random_expression_fields(surface, rng_exp, c, landmarks), n_exp)
    return MorphableModel(
        mean=(surface.vertices - HEAD_CENTRE).astype(np.float32),
        id_basis=id_basis.astype(np.float32), id_std=id_std.astype(np.float32),
        exp_basis=exp_basis.astype(np.float32), exp_std=exp_std.astype(np.float32),
        triangles=surface.triangles, landmarks=landmarks, contour_left=left,
        contour_right=right, name="procedural",
    )
