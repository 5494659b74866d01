"""The synthetic large-pose face dataset: the embedded default training and test data.

Faces are drawn from the morphable model's distribution and rendered as photo-like crops
(:mod:`facealign.data.render_face`), then written in the real AFLW2000-3D / 300W-LP
layout (jpg + ``.mat``) so that real and synthetic data share one reader.

* ``train`` follows 300W-LP: ``pt2d`` holds the 68 projected landmarks.
* ``test`` follows AFLW2000-3D: ``pt2d`` holds the 21 AFLW points (-1 where hidden);
  its |yaw| is stratified over the three bins [0,30], (30,60], (60,90] degrees.

Each sample is a pure function of ``(seed, split, index)``, so the dataset does not
depend on the number of workers.  A split is written to a temporary folder and renamed
when complete: an interrupted run never leaves a dataset that looks finished.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
from tqdm import tqdm

from facealign.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Range, section_fields
from facealign.data import readers
from facealign.data.appearance import region_weights, sample_appearance
from facealign.data.appearance_settings import AppearanceSettings
from facealign.data.render_face import render_face, sample_pose
from facealign.data.scene import Look
from faceeval.nme import map_68_to_21
from facegeom import parameters
from facegeom.camera import pose_para_from_pose
from facegeom.morphable_model import MorphableModel
from faceio.atomic import atomic_directory

SPLIT_CODES = {"train": 0, "test": 1}


@dataclass(frozen=True)
class SynthesisConfig:
    """The ``synthesize`` section of ``params.yaml`` (angles in degrees, sizes in pixels)."""

    image_size: int = 120
    face_scale: tuple[float, float] = (0.55, 0.75)
    jitter: float = 0.08
    yaw_max_deg: float = 90.0
    pitch_max_deg: float = 30.0
    roll_max_deg: float = 30.0
    expression_scale: float = 1.0
    one_sided_expressions: tuple[int, ...] = (0,)
    seed: int = 1
    jpeg_quality: int = 92
    appearance: AppearanceSettings = field(default_factory=AppearanceSettings)

    # keys of the synthesize section read by ``facealign synthesize`` itself, not held here
    SECTION_EXTRAS: ClassVar[dict[str, type]] = {"n_train": int, "n_test": int, "workers": int}
    LIMITS: ClassVar[dict[str, Range]] = {"image_size": AT_LEAST_ONE, "face_scale": POSITIVE,
                                          "jitter": NON_NEGATIVE, "expression_scale": NON_NEGATIVE,
                                          "jpeg_quality": Range(1, 100)}

    @classmethod
    def from_section(cls, section: dict) -> SynthesisConfig:
        """From ``cfg["synthesize"]`` (optionally laid over with ``cfg["dff"]["data"]``).

        Keys in :attr:`SECTION_EXTRAS` are accepted and ignored; any other unknown key is a
        :class:`facealign.config.ConfigError` naming it.
        """
        known = section_fields(cls, section, "synthesize", extra=cls.SECTION_EXTRAS)
        for key in ("face_scale", "one_sided_expressions"):
            if key in known:
                known[key] = tuple(known[key])
        if "appearance" in known:
            known["appearance"] = AppearanceSettings.from_section(known["appearance"])
        return cls(**known)


def sample_face(model: MorphableModel, cfg: SynthesisConfig, split: str, index: int,
                regions: dict[str, np.ndarray]):
    """Parameters (P,), rendered face and yaw (degrees) of sample ``index`` of ``split``.

    The photo-like effects draw from their own streams (:class:`Look`), so the pose, shape
    and base appearance are the same whatever ``cfg.appearance`` says.
    """
    seed = [cfg.seed, SPLIT_CODES[split], index]
    rng = np.random.default_rng(seed)
    a_id = np.clip(rng.standard_normal(model.n_id), -3, 3) * model.id_std
    a_exp = np.clip(rng.standard_normal(model.n_exp), -3, 3) * model.exp_std
    one_sided = [k for k in cfg.one_sided_expressions if k < model.n_exp]
    a_exp[one_sided] = np.abs(a_exp[one_sided])  # e.g. a jaw can open, not close through itself
    a_exp *= cfg.expression_scale * (0.25 if rng.uniform() < 0.3 else 1.0)
    if split == "test":  # stratify |yaw| so every bin is populated
        lo, hi = ((0, 30), (30, 60), (60, 90))[index % 3]
        yaw = min(rng.uniform(lo, hi), cfg.yaw_max_deg) * rng.choice([-1, 1])
    else:
        yaw = rng.uniform(-cfg.yaw_max_deg, cfg.yaw_max_deg)
    pitch = rng.uniform(-cfg.pitch_max_deg, cfg.pitch_max_deg)
    roll = rng.uniform(-cfg.roll_max_deg, cfg.roll_max_deg)
    shape = model.vertices(a_id, a_exp)
    pose = sample_pose(model, rng, cfg.image_size, yaw, pitch, roll,
                       rng.uniform(*cfg.face_scale), cfg.jitter, shape)
    params = parameters.join(pose, a_id, a_exp)
    appearance = sample_appearance(model, regions, rng, cfg.image_size)
    face = render_face(model, params, appearance, cfg.image_size, rng=rng,
                       look=Look(cfg.appearance, seed))
    return params, face, yaw


def occlusion_path(image_path: str | Path) -> Path:
    """Where the occlusion mask of a sample image is written (``<name>_occluded.png``)."""
    p = Path(image_path)
    return p.with_name(f"{p.stem}_occluded.png")


def load_occlusion(image_path: str | Path, height: int, width: int) -> np.ndarray:
    """(H, W) bool: face pixels hidden by an occluder (hair, glasses, hat, hand), to be
    ignored by per-pixel face labels; all False when the sample has no mask file."""
    path = occlusion_path(image_path)
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    return np.zeros((height, width), bool) if mask is None else mask > 127


def write_sample(model: MorphableModel, cfg: SynthesisConfig, split: str, folder: Path,
                 regions: dict[str, np.ndarray], index: int) -> None:
    """Render sample ``index`` and write ``folder/<index>.jpg`` and ``.mat``."""
    params, face, _ = sample_face(model, cfg, split, index, regions)
    lm = face.image_vertices[model.landmarks]
    visible = face.visible[model.landmarks]
    if split == "test":
        pt2d = map_68_to_21(lm[None, :, :2])[0]
        hidden = map_68_to_21(np.where(visible, 0.0, np.nan)[None, :, None].repeat(2, 2))[0]
        pt2d[~np.isfinite(hidden[:, 0])] = np.nan
    else:
        pt2d = lm[:, :2]
    name = f"{split}_{index:06d}"
    bgr = cv2.cvtColor(face.image, cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(folder / f"{name}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
    if face.occluded is not None and face.occluded.any():
        cv2.imwrite(str(occlusion_path(folder / f"{name}.jpg")), face.occluded.astype(np.uint8) * 255)
    pose, a_id, a_exp = parameters.split(params, model)
    box = np.concatenate([lm[:, :2].min(0), lm[:, :2].max(0)])
    readers.write_face_mat(
        folder / f"{name}.mat", lm[:, :2], pose_para_from_pose(pose, cfg.image_size), a_id, a_exp,
        landmarks68_z=lm[:, 2], pt2d=pt2d, roi=box,
    )


@lru_cache(maxsize=1)
def _load_model(model_path: str) -> tuple[MorphableModel, dict[str, np.ndarray]]:
    """The model and its region weights, loaded once per worker process."""
    model = MorphableModel.load(model_path)
    return model, region_weights(model)


def _single_threaded_worker() -> None:
    """Pool initializer: each worker is one process on one core (no BLAS, OpenCV or numba threads)."""
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    cv2.setNumThreads(1)
    numba.set_num_threads(1)


def _run_chunk(model_path: str, cfg: SynthesisConfig, split: str, folder: str,
               indices: list[int]) -> int:
    model, regions = _load_model(model_path)
    for i in indices:
        write_sample(model, cfg, split, Path(folder), regions, i)
    return len(indices)


def synthesize_split(model_path: str | Path, cfg: SynthesisConfig, split: str, count: int,
                     out_dir: str | Path, workers: int = 2, progress: bool = True) -> Path:
    """Write ``count`` samples of ``split`` into ``out_dir/split`` atomically; returns it."""
    with atomic_directory(Path(out_dir) / split) as tmp:
        _write_split(model_path, cfg, split, count, tmp, workers, progress)
    return Path(out_dir) / split


def _write_split(model_path: str | Path, cfg: SynthesisConfig, split: str, count: int, tmp: Path,
                 workers: int, progress: bool) -> None:
    """The samples and ``manifest.json`` of one split, written into the (partial) folder ``tmp``."""
    chunks = [list(range(s, min(s + 16, count))) for s in range(0, count, 16)]
    job = partial(_run_chunk, str(model_path), cfg, split, str(tmp))
    bar = tqdm(total=count, desc=f"synthesize {split}", unit="img", disable=not progress)
    if workers > 1 and len(chunks) > 1:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_single_threaded_worker) as pool:
            for n in pool.imap_unordered(job, chunks):
                bar.update(n)
    else:
        for chunk in chunks:
            bar.update(job(chunk))
    bar.close()
    manifest = {"split": split, "count": count, **asdict(cfg)}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
