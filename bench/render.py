"""PNCC rendering speed on one CPU core at 120 x 120, projection included.

Meshes: the BFM-sized 3DDFA dense mean face (53215 vertices, 105840 triangles) when the
shared reference data is present (``$FACEALIGN_SHARED`` or ``../shared`` beside the
checkout), else a generated ellipsoid grid of the same size; and the embedded procedural
model (or, if :mod:`facegeom.procedural_face` is missing, a generated grid, labelled so).

Each render is :func:`facegeom.pncc.render_pncc_pose` (weak-perspective projection of the
model-space mesh + z-buffer + NCC interpolation) for one of 32 random poses (yaw up to 75
degrees) with the face about 100 px wide.  Compilation is excluded (one warm-up call).
The headline figure is renders per second of the rendering thread's CPU time, best of
several rounds (the least noisy estimate, as :mod:`timeit` recommends); the median round
and wall-clock rates are reported too (they agree with it on an idle machine).

Usage: ``python bench/render.py`` -> table on stdout, ``bench/results/render.json``.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one core: set before numpy / numba load

import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402

from facegeom.camera import rotation_matrix  # noqa: E402
from facegeom.morphable_model import MorphableModel  # noqa: E402
from facegeom.pncc import render_pncc_params, render_pncc_pose  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SIZE, FACE_WIDTH_PX, N_POSES, ROUNDS, MIN_ROUND_S = 120, 100.0, 32, 7, 0.4


def ellipsoid_grid(n_lat: int, n_lon: int) -> tuple[np.ndarray, np.ndarray]:
    """A face-sized ellipsoid (mm), open at the poles: (n_lat*n_lon, 3), (2*(n_lat-1)*n_lon, 3)."""
    th, ph = np.meshgrid(np.linspace(0.02, np.pi - 0.02, n_lat),
                         np.linspace(0, 2 * np.pi, n_lon, endpoint=False))
    verts = np.stack([75 * np.sin(th) * np.cos(ph), 100 * np.cos(th), 60 * np.sin(th) * np.sin(ph)],
                     -1).reshape(-1, 3).astype(np.float32)
    idx = np.arange(n_lat * n_lon).reshape(n_lon, n_lat)
    nxt = np.roll(idx, -1, axis=0)
    a, b, c, d = idx[:, :-1], nxt[:, :-1], idx[:, 1:], nxt[:, 1:]
    tris = np.concatenate([np.stack([a, b, d], -1), np.stack([a, d, c], -1)]).reshape(-1, 3)
    return verts, tris.astype(np.int32)


def bfm_mesh() -> tuple[str, np.ndarray, np.ndarray]:
    shared = Path(os.environ.get("FACEALIGN_SHARED", REPO.parent / "shared"))
    folder = shared / "data" / "models" / "bfm_3ddfa"
    if folder.is_dir():
        from facegeom.model_files import load_3ddfa_dense

        model = load_3ddfa_dense(folder)
        return "BFM 3DDFA dense mean (real)", model.mean, model.triangles
    verts, tris = ellipsoid_grid(230, 232)
    return "BFM-sized ellipsoid grid (synthetic)", verts, tris


def embedded_mesh() -> tuple[str, np.ndarray, np.ndarray, MorphableModel | None]:
    try:
        from facegeom.procedural_face import build_procedural_model
    except ImportError:
        verts, tris = ellipsoid_grid(60, 64)
        return "embedded stand-in grid (procedural_face missing)", verts, tris, None
    model = build_procedural_model()
    return "embedded procedural model", model.mean, model.triangles, model


def random_poses(verts: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """(f, pitch, yaw, roll, tx, ty) putting the mesh ~100 px wide near the image centre."""
    lo, hi = verts.min(0), verts.max(0)
    f = FACE_WIDTH_PX / float(hi[0] - lo[0])
    centre = (lo + hi) / 2
    poses = []
    for _ in range(N_POSES):
        pitch, roll = np.deg2rad(rng.uniform(-20, 20, 2))
        yaw = np.deg2rad(rng.uniform(-75, 75))
        tx, ty = SIZE / 2 - 0.5 + rng.uniform(-3, 3, 2)
        c = rotation_matrix(pitch, yaw, roll) @ centre  # bounding-box centre lands at (tx, ty)
        poses.append(np.array([f, pitch, yaw, roll, tx - f * c[0], ty + f * c[1]]))
    return poses


def time_renders(render, args_list: list) -> dict[str, float]:
    """Renders per second over ROUNDS rounds cycling through ``args_list``.

    Per core means per second of this thread's CPU time (``time.thread_time``), which is
    what one core delivers even when other processes share the machine; wall-clock rates
    are reported beside it (they agree on an idle machine).
    """
    render(*args_list[0])  # compile / load the numba cache
    n = 1
    while True:  # calibrate a round to last about MIN_ROUND_S
        t0 = time.thread_time()
        for k in range(n):
            render(*args_list[k % len(args_list)])
        if time.thread_time() - t0 > MIN_ROUND_S / 4:
            break
        n *= 2
    n *= 4
    cpu, wall = [], []
    for _ in range(ROUNDS):
        c0, w0 = time.thread_time(), time.perf_counter()
        for k in range(n):
            render(*args_list[k % len(args_list)])
        cpu.append(n / (time.thread_time() - c0))
        wall.append(n / (time.perf_counter() - w0))
    return {"best": max(cpu), "median": float(np.median(cpu)), "wall_best": max(wall),
            "wall_median": float(np.median(wall))}


def bench_mesh(name: str, verts: np.ndarray, tris: np.ndarray, rng: np.random.Generator) -> dict:
    ncc = ((verts - verts.min(0)) / (verts.max(0) - verts.min(0))).astype(np.float32)
    args = [(p, verts, tris, ncc, SIZE, SIZE) for p in random_poses(verts, rng)]
    rate = time_renders(render_pncc_pose, args)
    covered = np.mean([(render_pncc_pose(*a).sum(-1) > 0).mean() for a in args[:8]])
    return {"mesh": name, "vertices": int(len(verts)), "triangles": int(len(tris)),
            "renders_per_s": round(rate["best"], 1),
            "renders_per_s_median": round(rate["median"], 1),
            "renders_per_s_wall_best": round(rate["wall_best"], 1),
            "renders_per_s_wall_median": round(rate["wall_median"], 1),
            "ms_per_render": round(1e3 / rate["best"], 3),
            "face_pixel_fraction": round(float(covered), 3)}


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    numba.set_num_threads(1)
    rng = np.random.default_rng(0)
    bfm = bench_mesh(*bfm_mesh(), rng)
    name, verts, tris, model = embedded_mesh()
    emb = bench_mesh(name, verts, tris, rng)
    if model is not None:  # the full parameter path: shape from coefficients + projection
        params = [np.concatenate([p, np.zeros(model.n_id + model.n_exp)])
                  for p in random_poses(verts, rng)]
        colors = model.ncc()
        emb["renders_per_s_params"] = round(time_renders(
            render_pncc_params, [(p, model, SIZE, SIZE, colors) for p in params])["best"], 1)
    rows = [("BFM-sized", bfm), ("embedded", emb)]
    print(f"PNCC render at {SIZE}x{SIZE}, one core, projection included; renders per CPU-second "
          f"of one thread, best of {ROUNDS} rounds (median; wall-clock best)")
    print(f"{'':10} {'mesh':48} {'vertices':>9} {'triangles':>10} {'renders/s/core':>22} "
          f"{'ms/render':>10}")
    for label, r in rows:
        rate = (f"{r['renders_per_s']:.0f} ({r['renders_per_s_median']:.0f}; "
                f"{r['renders_per_s_wall_best']:.0f})")
        print(f"{label:10} {r['mesh']:48} {r['vertices']:>9} {r['triangles']:>10} {rate:>22} "
              f"{r['ms_per_render']:>10.3f}")
    if "renders_per_s_params" in emb:
        print(f"embedded via render_pncc_params (shape from coefficients too): "
              f"{emb['renders_per_s_params']:.0f} renders/s/core")
    result = {
        "renders_per_s_bfm": bfm["renders_per_s"], "renders_per_s_embedded": emb["renders_per_s"],
        "image_size": SIZE,
        "statistic": f"renders per thread CPU-second, one core, best of {ROUNDS} rounds",
        "bfm": bfm, "embedded": emb, "target_renders_per_s_bfm": 400,
        "cpu": platform.processor() or platform.machine(), "numba": numba.__version__,
    }
    out = REPO / "bench" / "results" / "render.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
