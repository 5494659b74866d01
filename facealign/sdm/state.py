"""The SDM state and one iteration of the cascade, shared by training and inference.

The state of a face is its camera ``pose`` (6,) and its identity + expression
``coeffs`` (K,) over the leading components the SDM fits, all in the crop frame of the
descriptor (:mod:`facealign.sdm.crops`).  Its landmarks ``X`` (L, 2) are the projections
of the L landmark vertices.  One iteration with descent map ``(R, b)``:

1. z-buffer the current mesh, find which landmark vertices are visible;
2. ``F`` = descriptors at the projected landmarks, zero where invisible (L * dim values);
3. ``delta = F @ R + b`` = (landmark offsets (2T), camera offsets (6)), for the first
   T of the L points (T = L, or the 68 iBUG landmarks: ``sdm.targets``);
4. target landmarks ``X + delta_X``, camera ``w + delta_w``;
5. shape coefficients = the regularised least-squares fit to the T target landmarks at
   the new camera (:meth:`facealign.sdm.shape_fit.ShapeBasis.fit`), or, in training with
   the generic face model, one fit shared by the whole batch
   (:meth:`~facealign.sdm.shape_fit.ShapeBasis.fit_shared`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from facealign.sdm.descriptors import Descriptor
from facealign.sdm.regression import DescentMap
from facealign.sdm.shape_fit import ShapeBasis, camera_from_box, frontal_template, project_points
from facegeom.morphable_model import MorphableModel
from facegeom.rasterize import Raster, rasterize_batch, vertex_visibility

N_POSE = 6


@dataclass(frozen=True)
class SDMState:
    """A batch of face estimates: ``pose`` (B, 6) and ``coeffs`` (B, K), float64."""

    pose: np.ndarray
    coeffs: np.ndarray

    def __len__(self) -> int:
        return len(self.pose)


@dataclass(frozen=True)
class SDMGeometry:
    """What the SDM needs of the morphable model.

    Attributes:
        vertex_ids: (L,) landmark vertices; the first 68 are the iBUG landmarks.
        landmarks: the model restricted to ``vertex_ids`` and the fitted components.
        mesh_mean: (N, 3) float32 mean mesh, for visibility.
        mesh_basis: (K, 3N) float32 fitted components of the whole mesh.
        triangles: (T, 3) int32.
        template: (68, 2) frontal mean landmarks (for placing the mean face in a box).
        shape_noise: landmark noise of the shape prior, as a fraction of the crop side.
        visibility_scale: z-buffer resolution of the per-iteration visibility, relative to
            the crop (0.5: a half-size z-buffer, 4x fewer pixels).
        targets: the first T landmark vertices restricted like ``landmarks``: the points
            whose offsets the descent maps predict and the shape is fitted to.
    """

    vertex_ids: np.ndarray
    landmarks: ShapeBasis
    mesh_mean: np.ndarray
    mesh_basis: np.ndarray
    triangles: np.ndarray
    template: np.ndarray
    shape_noise: float
    visibility_scale: float = 1.0
    targets: ShapeBasis | None = None

    @classmethod
    def from_model(cls, model: MorphableModel, vertex_ids: np.ndarray, n_id: int, n_exp: int,
                   shape_noise: float, visibility_scale: float = 1.0,
                   n_targets: int | None = None) -> SDMGeometry:
        """``n_id`` / ``n_exp`` are capped at the model's components; ``n_targets`` (None: all
        L points) selects the leading landmark vertices the maps predict."""
        n_id, n_exp = min(n_id, model.n_id), min(n_exp, model.n_exp)
        basis = np.concatenate([model.id_basis[:, :n_id], model.exp_basis[:, :n_exp]], 1)
        vertex_ids = np.asarray(vertex_ids, np.int64)
        landmarks = ShapeBasis.from_model(model, vertex_ids, n_id, n_exp)
        n_targets = len(vertex_ids) if n_targets is None else int(n_targets)
        if not 0 < n_targets <= len(vertex_ids):
            raise ValueError(f"n_targets must be in 1..{len(vertex_ids)}, got {n_targets}")
        targets = (landmarks if n_targets == len(vertex_ids)
                   else ShapeBasis.from_model(model, vertex_ids[:n_targets], n_id, n_exp))
        return cls(
            vertex_ids=vertex_ids, landmarks=landmarks, targets=targets,
            mesh_mean=model.mean.astype(np.float32),
            mesh_basis=np.ascontiguousarray(basis.T, np.float32),
            triangles=model.triangles.astype(np.int32), template=frontal_template(model),
            shape_noise=float(shape_noise), visibility_scale=float(visibility_scale),
        )

    @property
    def n_points(self) -> int:
        return int(len(self.vertex_ids))

    @property
    def target_basis(self) -> ShapeBasis:
        """The basis of the target points (all landmark vertices unless ``targets`` is set)."""
        return self.landmarks if self.targets is None else self.targets

    @property
    def n_targets(self) -> int:
        """T: landmark vertices whose offsets a state update carries (the first T)."""
        return int(len(self.target_basis.mean))

    @property
    def n_outputs(self) -> int:
        """Length of a state update: 2T landmark offsets then 6 camera offsets."""
        return 2 * self.n_targets + N_POSE

    def initial_state(self, boxes: np.ndarray) -> SDMState:
        """The mean face, frontal, placed by face boxes (B, 4) given in crop pixels."""
        pose = camera_from_box(self.template, boxes)
        return SDMState(pose, np.zeros((len(pose), self.landmarks.n_components)))

    def points(self, state: SDMState) -> np.ndarray:
        """(B, L, 3) projected landmark vertices (x, y pixels; depth)."""
        return project_points(state.pose, self.landmarks.shapes(state.coeffs))

    def mesh(self, state: SDMState) -> np.ndarray:
        """(B, N, 3) float32 projected mesh."""
        flat = state.coeffs.astype(np.float32) @ self.mesh_basis
        shapes = self.mesh_mean[None] + flat.reshape(len(state), -1, 3)
        return project_points(state.pose, shapes)

    def visibility(self, state: SDMState, height: int, width: int, scale: float = 1.0) -> np.ndarray:
        """(B, L) bool: landmark vertices inside an H x W image and not self-occluded.

        ``scale`` < 1 tests against a z-buffer of ``scale`` times the image size.
        """
        verts = self.mesh(state)
        if scale != 1.0:
            verts[..., :2] = (verts[..., :2] + 0.5) * scale - 0.5
            height, width = max(1, round(height * scale)), max(1, round(width * scale))
        raster = rasterize_batch(verts, self.triangles, height, width)
        out = np.empty((len(state), self.n_points), bool)
        for b in range(len(state)):
            one = Raster(raster.depth[b], raster.triangle[b], raster.bary[b])
            out[b] = vertex_visibility(verts[b], one)[self.vertex_ids]
        return out

    def residual(self, state: SDMState, points: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """The ideal update (B, 2T + 6) towards landmarks (B, L, 2) (their first T) and poses (B, 6)."""
        t = self.n_targets
        dx = np.asarray(points, np.float64)[:, :t, :2] - self.points(state)[:, :t, :2]
        return np.concatenate([dx.reshape(len(state), -1), np.asarray(pose) - state.pose], 1)

    def update(self, state: SDMState, delta: np.ndarray, crop_size: int, shared: bool = False) -> SDMState:
        """Apply an update (B, 2T + 6): move the T target landmarks and the camera, refit the shape.

        ``shared``: fit one coefficient vector to the whole batch (the generic face model of
        training) instead of one per face.
        """
        t = self.n_targets
        target = self.points(state)[:, :t, :2] + delta[:, : 2 * t].reshape(len(state), t, 2)
        pose = state.pose + delta[:, 2 * t :]
        pose[:, 0] = np.maximum(pose[:, 0], 1e-3 * state.pose[:, 0])
        noise = self.shape_noise * crop_size
        if shared:
            coeffs = np.tile(self.target_basis.fit_shared(pose, target, noise), (len(state), 1))
        else:
            coeffs = self.target_basis.fit(pose, target, noise)
        return SDMState(pose, coeffs)


def features(geometry: SDMGeometry, descriptor: Descriptor, prepared: object,
             state: SDMState) -> np.ndarray:
    """Step 1-2 of an iteration: (B, L * dim) descriptors at the visible landmarks."""
    size = descriptor.image_size
    visible = geometry.visibility(state, size, size, geometry.visibility_scale)
    return descriptor.sample(prepared, geometry.points(state)[..., :2], visible)


def run_cascade(geometry: SDMGeometry, descriptor: Descriptor, maps: tuple[DescentMap, ...],
                prepared: object, state: SDMState,
                on_iteration: Callable[[int, SDMState], None] | None = None) -> SDMState:
    """Apply every descent map in turn; ``on_iteration(k, state)`` sees each new state."""
    for k, descent in enumerate(maps):
        f = features(geometry, descriptor, prepared, state)
        state = geometry.update(state, descent(f), descriptor.image_size)
        if on_iteration is not None:
            on_iteration(k, state)
    return state
