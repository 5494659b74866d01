"""Random centroidal Voronoi segmentations of a mesh: patches are connected unions of
triangles, roughly equal in area, reproducible from the seed, and differ between draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from facegeom.mesh_segmentation import (
    Segmentations,
    centroidal_voronoi,
    random_segmentations,
    triangle_adjacency,
    triangle_areas,
    triangle_centroids,
)


def grid_mesh(n: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """A curved n x n vertex sheet: (n*n, 3) vertices, 2 (n-1)^2 triangles."""
    u, v = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    verts = np.stack([u.ravel(), v.ravel(), 0.3 * np.cos(1.5 * u.ravel())], axis=1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    return verts, np.concatenate([np.stack([a, b, c], 1), np.stack([b, d, c], 1)]).astype(np.int32)


def test_dual_graph_links_triangles_that_share_an_edge():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [5, 5, 0]], float)
    tris = np.array([[0, 1, 2], [1, 3, 2], [2, 3, 4]])
    graph = triangle_adjacency(verts, tris).toarray()
    assert (graph > 0).sum() == 4  # 0-1 and 1-2, symmetric; 0-2 share only a vertex
    assert graph[0, 1] == pytest.approx(np.linalg.norm(triangle_centroids(verts, tris)[0]
                                                       - triangle_centroids(verts, tris)[1]))
    assert graph[0, 2] == 0
    np.testing.assert_allclose(triangle_areas(verts, tris)[:2], [0.5, 0.5])


@pytest.mark.parametrize("metric", ["graph", "euclidean"])
def test_every_triangle_gets_one_of_p_nonempty_patches(metric):
    verts, tris = grid_mesh()
    segs = random_segmentations(verts, tris, n_segmentations=3, n_patches=12, metric=metric, seed=0)
    assert segs.labels.shape == (3, len(tris)) and segs.n_patches == 12
    for labels in segs.labels:
        assert set(np.unique(labels)) == set(range(12))


def test_graph_metric_patches_are_connected_through_shared_edges():
    verts, tris = grid_mesh()
    segs = random_segmentations(verts, tris, n_segmentations=3, n_patches=12, metric="graph", seed=0)
    graph = triangle_adjacency(verts, tris)
    for labels in segs.labels:
        for p in range(12):
            inside = np.flatnonzero(labels == p)
            n_parts, _ = connected_components(graph[inside][:, inside], directed=False)
            assert n_parts == 1, f"patch {p} is split in {n_parts} pieces"


def test_lloyd_iterations_even_out_patch_areas():
    verts, tris = grid_mesh(31)
    c, a = triangle_centroids(verts, tris), triangle_areas(verts, tris)
    graph = triangle_adjacency(verts, tris)

    def spread(iterations: int) -> float:
        out = []
        for seed in range(5):
            labels, _ = centroidal_voronoi(c, a, 20, np.random.default_rng(seed), iterations, graph)
            area = np.bincount(labels, weights=a)
            out.append(area.std() / area.mean())
        return float(np.mean(out))

    assert spread(15) < 0.7 * spread(0)


def test_same_seed_same_segmentations_other_seed_other_ones():
    verts, tris = grid_mesh()
    first = random_segmentations(verts, tris, 2, 10, iterations=3, seed=7)
    again = random_segmentations(verts, tris, 2, 10, iterations=3, seed=7)
    other = random_segmentations(verts, tris, 2, 10, iterations=3, seed=8)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.array_equal(first.labels, other.labels)
    assert not np.array_equal(first.labels[0], first.labels[1])


def test_triangles_of_another_component_join_the_nearest_seed():
    verts, tris = grid_mesh(5)
    far = verts + np.array([0.0, 0.0, 0.05])  # a second sheet just above, not connected
    both_v = np.concatenate([verts, far])
    both_t = np.concatenate([tris, tris + len(verts)])
    segs = random_segmentations(both_v, both_t, 1, 2, iterations=2, seed=3)
    assert segs.labels.min() >= 0 and set(np.unique(segs.labels)) == {0, 1}


def test_rejects_more_patches_than_triangles_and_unknown_metrics():
    verts, tris = grid_mesh(3)
    with pytest.raises(ValueError, match="n_patches"):
        random_segmentations(verts, tris, 1, len(tris) + 1)
    with pytest.raises(ValueError, match="metric"):
        random_segmentations(verts, tris, 1, 2, metric="manhattan")


def test_save_load_round_trip_and_clear_errors(tmp_path):
    verts, tris = grid_mesh(5)
    segs = random_segmentations(verts, tris, 2, 4, seed=1)
    segs.save(tmp_path / "s.npz")
    back = Segmentations.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.labels, segs.labels)
    assert back.n_patches == 4 and back.n_segmentations == 2 and back.n_triangles == len(tris)
    with pytest.raises(FileNotFoundError, match="dvc repro segment"):
        Segmentations.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", labels=np.full((1, 3), 9), n_patches=4)
    with pytest.raises(ValueError, match="bad.npz"):
        Segmentations.load(tmp_path / "bad.npz")
