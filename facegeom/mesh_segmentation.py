"""Random centroidal Voronoi segmentations of a triangle mesh, for Deep Face Feature training.

A segmentation splits the triangles of the mean face mesh into ``P`` patches: ``P`` seed
triangles are drawn at random (area-weighted), every triangle joins its nearest seed, and
Lloyd iterations move each seed to the triangle of its patch nearest the patch's
area-weighted centroid, which makes the tessellation centroidal.  Distances are either
geodesic-like (``metric="graph"``: shortest paths on the dual graph whose nodes are
triangles, edges join triangles sharing a mesh edge, weighted by centroid distance) or
straight-line (``metric="euclidean"``, cheaper, between triangle centroids in 3D).

Every patch is a union of triangles, so one segmentation is a label per triangle and
applies unchanged to every identity and expression of the morphable model.  ``S``
segmentations form an ``(S, T)`` integer table; labels are ``0 .. P-1`` and every patch
is non-empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from faceio.atomic import atomic_path

METRICS = ("graph", "euclidean")


def triangle_centroids(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(N, 3) vertices, (T, 3) triangles -> (T, 3) float64 centroids."""
    return np.asarray(vertices, np.float64)[np.asarray(triangles)].mean(axis=1)


def triangle_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(T,) float64 triangle areas in squared model units."""
    p = np.asarray(vertices, np.float64)[np.asarray(triangles)]
    return 0.5 * np.linalg.norm(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]), axis=1)


def triangle_adjacency(vertices: np.ndarray, triangles: np.ndarray) -> csr_matrix:
    """The dual graph: (T, T) symmetric sparse matrix, entry = centroid distance of edge neighbours.

    Two triangles are neighbours when they share a mesh edge (both vertex indices).
    """
    tris = np.asarray(triangles, np.int64)
    t = tris.shape[0]
    edges = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    edges.sort(axis=1)
    owner = np.tile(np.arange(t), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, owner = edges[order], owner[order]
    same = np.all(edges[1:] == edges[:-1], axis=1)
    a, b = owner[:-1][same], owner[1:][same]
    c = triangle_centroids(vertices, tris)
    w = np.linalg.norm(c[a] - c[b], axis=1) + 1e-12  # zero weights would read as "no edge"
    graph = coo_matrix((np.concatenate([w, w]), (np.concatenate([a, b]), np.concatenate([b, a]))),
                       shape=(t, t))
    return graph.tocsr()


def _assign(seeds: np.ndarray, centroids: np.ndarray, graph: csr_matrix | None) -> np.ndarray:
    """Index into ``seeds`` of the nearest seed of every triangle, (T,) int64.

    With a graph, triangles it cannot reach (another connected component) fall back to
    the Euclidean nearest seed.
    """
    euclid = cKDTree(centroids[seeds]).query(centroids)[1]
    if graph is None:
        return np.asarray(euclid, np.int64)
    _, _, sources = dijkstra(graph, directed=False, indices=seeds, return_predecessors=True,
                             min_only=True)
    slot = np.full(centroids.shape[0], -1, np.int64)
    slot[seeds] = np.arange(seeds.size)
    out = np.where(sources >= 0, slot[np.maximum(sources, 0)], euclid)
    out[seeds] = np.arange(seeds.size)
    return out


def centroidal_voronoi(
    centroids: np.ndarray, areas: np.ndarray, n_patches: int, rng: np.random.Generator,
    iterations: int = 10, graph: csr_matrix | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One centroidal Voronoi tessellation of the triangles.

    Args:
        centroids: (T, 3) triangle centroids.
        areas: (T,) triangle areas (the density of the Lloyd centroids and of seeding).
        n_patches: P, at most T.
        rng: the random source for the initial seeds.
        iterations: Lloyd iterations after the initial assignment.
        graph: the dual graph of :func:`triangle_adjacency` for graph distances, or None
            for Euclidean distances.
    Returns:
        labels (T,) int64 in ``0 .. P-1`` (every patch non-empty) and seeds (P,) int64, the
        seed triangle of each patch.
    """
    t = centroids.shape[0]
    if not 1 <= n_patches <= t:
        raise ValueError(f"n_patches must be in 1..{t} (the triangle count), got {n_patches}")
    weight = np.maximum(areas, 0) + 1e-12
    seeds = rng.choice(t, size=n_patches, replace=False, p=weight / weight.sum())
    labels = _assign(seeds, centroids, graph)
    for _ in range(iterations):
        mass = np.bincount(labels, weights=weight, minlength=n_patches)
        centre = np.stack([np.bincount(labels, weights=weight * centroids[:, k], minlength=n_patches)
                           for k in range(3)], axis=1) / mass[:, None]
        gap = np.linalg.norm(centroids - centre[labels], axis=1)
        order = np.lexsort((gap, labels))  # per patch, nearest-to-centroid triangle first
        first = np.ones(t, bool)
        first[1:] = labels[order][1:] != labels[order][:-1]
        new_seeds = np.empty(n_patches, np.int64)
        new_seeds[labels[order][first]] = order[first]
        if np.array_equal(new_seeds, seeds):
            break
        seeds = new_seeds
        labels = _assign(seeds, centroids, graph)
    return labels, seeds


@dataclass(frozen=True)
class Segmentations:
    """S random segmentations of one mesh's triangles into P patches.

    Attributes:
        labels: (S, T) int16/int32 patch of every triangle in every segmentation.
        n_patches: P.
    """

    labels: np.ndarray
    n_patches: int

    @property
    def n_segmentations(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_triangles(self) -> int:
        return int(self.labels.shape[1])

    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` (atomically: temp file, then rename)."""
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, labels=self.labels, n_patches=np.int64(self.n_patches))

    @classmethod
    def load(cls, path: str | Path) -> Segmentations:
        """Read :meth:`save`'s file; errors name the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: segmentations not found (run `dvc repro segment`)")
        with np.load(path, allow_pickle=False) as data:
            if "labels" not in data.files or "n_patches" not in data.files:
                raise ValueError(f"{path}: not a segmentation file (needs 'labels' and 'n_patches')")
            labels, n_patches = data["labels"], int(data["n_patches"])
        if labels.ndim != 2 or labels.size == 0 or labels.min() < 0 or labels.max() >= n_patches:
            raise ValueError(f"{path}: labels must be (S, T) in 0..{n_patches - 1}")
        return cls(labels, n_patches)


def random_segmentations(
    vertices: np.ndarray, triangles: np.ndarray, n_segmentations: int, n_patches: int,
    iterations: int = 10, metric: str = "graph", seed: int = 0,
) -> Segmentations:
    """``S`` independent random CVT segmentations of a mesh (see the module docstring).

    Args:
        vertices: (N, 3) the mesh, e.g. the model's mean shape.
        triangles: (T, 3) vertex indices.
        n_segmentations: S.
        n_patches: P per segmentation.
        iterations: Lloyd iterations.
        metric: ``"graph"`` (geodesic-like) or ``"euclidean"``.
        seed: random seed; the same arguments give the same segmentations.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if n_segmentations < 1:
        raise ValueError(f"n_segmentations must be >= 1, got {n_segmentations}")
    centroids = triangle_centroids(vertices, triangles)
    areas = triangle_areas(vertices, triangles)
    graph = triangle_adjacency(vertices, triangles) if metric == "graph" else None
    rng = np.random.default_rng(seed)
    dtype = np.int16 if n_patches <= np.iinfo(np.int16).max else np.int32
    labels = np.stack([centroidal_voronoi(centroids, areas, n_patches, rng, iterations, graph)[0]
                       for _ in range(n_segmentations)]).astype(dtype)
    return Segmentations(labels, int(n_patches))
