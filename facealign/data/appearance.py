"""Photo-like appearance for synthetic faces: albedo, lighting, background.

Everything here is sampled from a ``numpy.random.Generator`` so that a dataset is a
pure function of its seed.  Colours are RGB floats in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facegeom.morphable_model import MorphableModel

# Skin tones (RGB, [0, 1]) from light to dark; a face mixes two neighbours.
SKIN_TONES = np.array([
    [0.96, 0.80, 0.69], [0.90, 0.72, 0.60], [0.84, 0.64, 0.50], [0.76, 0.57, 0.43],
    [0.66, 0.47, 0.34], [0.55, 0.38, 0.27], [0.43, 0.29, 0.20], [0.33, 0.22, 0.15],
])
BROW_LANDMARKS = (tuple(range(17, 22)), tuple(range(22, 27)))
EYE_LANDMARKS = (tuple(range(36, 42)), tuple(range(42, 48)))
LIP_LANDMARKS = tuple(range(48, 60))


@dataclass
class Appearance:
    """How one synthetic face looks.

    Attributes:
        albedo: (N, 3) per-vertex reflectance in [0, 1].
        light_dir: (3,) unit vector in camera space (x right, y up, z towards the camera).
        light_color: (3,) RGB gain of the directional light.
        ambient: ambient light strength (fraction of albedo).
        diffuse: Lambertian strength.
        background: (S, S, 3) float image behind the face.
    """

    albedo: np.ndarray
    light_dir: np.ndarray
    light_color: np.ndarray
    ambient: float
    diffuse: float
    background: np.ndarray


def region_weights(model: MorphableModel) -> dict[str, np.ndarray]:
    """Soft per-vertex weights (N,) in [0, 1] for brows, eyes and lips of the mean face.

    Distances are measured in 3D to the landmark vertices of each region, scaled by the
    inter-ocular distance, so the regions follow any model's own geometry.
    """
    mean, lm = model.mean, model.landmarks
    iod = np.linalg.norm(mean[lm[36]] - mean[lm[45]])

    def near(points: tuple[int, ...], sigma: float) -> np.ndarray:
        anchors = mean[lm[list(points)]]
        # Densify the polyline so the weight follows its segments, not only its corners.
        t = np.linspace(0, 1, 6)[:, None, None]
        dense = (anchors[:-1][None] * (1 - t) + anchors[1:][None] * t).reshape(-1, 3)
        d = np.linalg.norm(mean[:, None] - dense[None], axis=2).min(1)
        return np.exp(-0.5 * (d / (sigma * iod)) ** 2)

    def inside(points: tuple[int, ...], grow: float) -> np.ndarray:
        # Inside the landmark polygon in the frontal view (x, y), with a soft edge; only
        # vertices near the polygon's depth count, so the back of the head stays skin.
        ring = mean[lm[list(points)]]
        centre = ring[:, :2].mean(0)
        poly = (centre + (ring[:, :2] - centre) * (1 + grow)).astype(np.float32)
        signed = np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), True)
                           for x, y in mean[:, :2]])
        near_depth = np.abs(mean[:, 2] - ring[:, 2].mean()) < 0.4 * iod
        return np.clip(signed / (0.04 * iod) + 0.5, 0, 1) * near_depth

    return {
        "brows": np.maximum(near(BROW_LANDMARKS[0], 0.07), near(BROW_LANDMARKS[1], 0.07)),
        "eyes": np.maximum(inside(EYE_LANDMARKS[0], 0.0), inside(EYE_LANDMARKS[1], 0.0)),
        "irises": np.maximum(inside(EYE_LANDMARKS[0], -0.55), inside(EYE_LANDMARKS[1], -0.55)),
        "lips": inside(LIP_LANDMARKS, 0.05),
    }


def sample_albedo(model: MorphableModel, regions: dict[str, np.ndarray],
                  rng: np.random.Generator) -> np.ndarray:
    """(N, 3) skin albedo with smooth blotches, dark brows, eyes with irises, reddish lips."""
    i = int(rng.integers(0, len(SKIN_TONES) - 1))
    skin = SKIN_TONES[i] + rng.uniform() * (SKIN_TONES[i + 1] - SKIN_TONES[i])
    mean = model.mean
    scale = float(np.ptp(mean, axis=0).max())
    blotch = np.zeros(len(mean))
    for centre in mean[rng.integers(0, len(mean), 6)]:
        blotch += rng.normal(0, 0.05) * np.exp(-np.sum((mean - centre) ** 2, 1) / (0.02 * scale**2))
    albedo = np.clip(skin[None] * (1 + blotch[:, None]), 0, 1)
    hair = rng.uniform(0.05, 0.35) * np.array([1.0, 0.85, 0.7])
    lips = skin * np.array([1.0, 0.62, 0.62]) * rng.uniform(0.75, 0.95)
    sclera = np.array([0.78, 0.75, 0.72]) * rng.uniform(0.8, 1.0)
    iris = rng.uniform(0.05, 0.35) * np.array([0.9, 0.75, 0.6])
    for name, colour in (("brows", hair), ("lips", lips), ("eyes", sclera), ("irises", iris)):
        w = regions[name][:, None]
        albedo = albedo * (1 - w) + colour[None] * w
    return albedo.astype(np.float32)


def sample_background(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) float background: smooth colour field, random shapes, fine noise."""
    grey = rng.uniform(0.15, 0.85)
    coarse = grey + rng.uniform(-0.3, 0.3, (int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3))
    bg = cv2.resize(coarse.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 6))):
        colour = tuple(float(c) for c in np.clip(rng.uniform(0, 1) + rng.uniform(-0.25, 0.25, 3), 0, 1))
        centre = tuple(int(c) for c in rng.integers(0, size, 2))
        axes = tuple(int(a) for a in rng.integers(size // 16 + 1, size // 3 + 2, 2))
        cv2.ellipse(bg, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    bg += rng.normal(0, 0.03, bg.shape).astype(np.float32)
    return np.clip(bg, 0, 1)


def sample_appearance(model: MorphableModel, regions: dict[str, np.ndarray],
                      rng: np.random.Generator, size: int) -> Appearance:
    """A random albedo, a light mostly from the front and a random background."""
    light = np.array([rng.uniform(-1, 1), rng.uniform(-0.6, 1), rng.uniform(0.4, 1.5)])
    return Appearance(
        albedo=sample_albedo(model, regions, rng),
        light_dir=light / np.linalg.norm(light),
        light_color=rng.uniform(0.85, 1.0, 3),
        ambient=float(rng.uniform(0.25, 0.55)),
        diffuse=float(rng.uniform(0.45, 0.8)),
        background=sample_background(size, rng),
    )


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(N, 3) unit normals of a mesh, oriented away from its centroid."""
    v0, v1, v2 = (vertices[triangles[:, k]] for k in range(3))
    face_n = np.cross(v1 - v0, v2 - v0)
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face_n)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    outward = np.sum(normals * (vertices - vertices.mean(0)), axis=1).mean()
    return normals if outward >= 0 else -normals


def shade(appearance: Appearance, normals_cam: np.ndarray) -> np.ndarray:
    """(N, 3) vertex colours under Lambertian plus ambient light; normals in camera space."""
    lambert = np.clip(normals_cam @ appearance.light_dir, 0, None)[:, None]
    light = appearance.ambient + appearance.diffuse * lambert * appearance.light_color[None]
    return np.clip(appearance.albedo * light, 0, 1).astype(np.float32)
