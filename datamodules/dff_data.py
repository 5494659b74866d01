"""Training data for the Deep Face Feature network: images with per-pixel patch labels.

Every training image comes with its ground-truth 3DMM parameters.  Its labels are made on
the fly: the ground-truth mesh is projected and z-buffered at the image's own size, the
visible triangle of every pixel is looked up in the ``(S, T)`` segmentation table, and
``K`` face pixels are sampled (background pixels never are).  Rasterising one mesh takes
about a millisecond, so labels cost far less than a training step and need no cache.

A sample is a dict of tensors:
    ``image`` (H, W, 3) uint8 RGB,
    ``pixels`` (K,) int64 flat pixel indices ``row * W + col``,
    ``labels`` (S, K) int64 patch of each sampled pixel in each segmentation,
    ``valid`` (K,) bool, False for padding when an image shows no face pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from facealign.data import readers
from facealign.data.augment import AugmentSettings, augment
from facealign.data.synthesize import load_occlusion
from facegeom import parameters
from facegeom.morphable_model import MorphableModel
from facegeom.rasterize import rasterize

MISSING_DATA_HINT = "run `dvc repro synthesize_dff` (or `dvc pull`) first"


def triangle_map(model: MorphableModel, params: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) int32 index of the visible model triangle at each pixel, -1 on background."""
    verts = parameters.project_params(params, model)
    return rasterize(verts, model.triangles, height, width).triangle


def record_params(record: readers.FaceRecord) -> np.ndarray:
    """The (6 + K_id + K_exp,) parameter vector of a dataset record, image frame."""
    return parameters.join(readers.pose(record), record.shape_para, record.exp_para)


class DFFDataset(Dataset):
    """Images with on-the-fly patch labels (see the module docstring).

    Args:
        image_paths: N image files (all the same size).
        params: (N, 6 + K_id + K_exp) ground-truth parameters in each image's frame.
        model: the morphable model the parameters belong to.
        lut: (S, T) patch of every model triangle in every segmentation.
        pixels_per_image: K face pixels sampled per image (with replacement when fewer).
        color_jitter: max relative change of per-channel gain and of brightness (0 = none).
        deterministic: sample pixels, jitter and augmentation from a generator seeded by the
            index (validation); otherwise from torch's global generator (seeded by Lightning).
        augment: photometric / cut-out augmentation of the image after ``color_jitter``
            (None or all probabilities 0 = none; training sets only); labels are unchanged.
    """

    def __init__(self, image_paths: list[Path], params: np.ndarray, model: MorphableModel,
                 lut: np.ndarray, pixels_per_image: int, color_jitter: float = 0.0,
                 deterministic: bool = False, augment: AugmentSettings | None = None) -> None:
        if len(image_paths) != len(params):
            raise ValueError("image_paths and params differ in length")
        if lut.shape[1] != len(model.triangles):
            raise ValueError(f"segmentations cover {lut.shape[1]} triangles, the face model has "
                             f"{len(model.triangles)}: re-run `dvc repro segment`")
        self.image_paths = list(image_paths)
        self.params = np.asarray(params, np.float64)
        self.model = model
        self.lut = np.asarray(lut, np.int64)
        self.k = int(pixels_per_image)
        self.color_jitter = float(color_jitter)
        self.deterministic = deterministic
        self.augment = augment if augment is not None and augment.active else None

    def __len__(self) -> int:
        return len(self.image_paths)

    def _uniform(self, rng: np.random.Generator | None, shape: tuple[int, ...]) -> np.ndarray:
        if rng is not None:
            return rng.uniform(size=shape)
        return torch.rand(shape, dtype=torch.float64).numpy()

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image = readers.load_image(self.image_paths[index])
        h, w = image.shape[:2]
        tri = triangle_map(self.model, self.params[index], h, w).reshape(-1)
        tri[load_occlusion(self.image_paths[index], h, w).reshape(-1)] = -1  # hair, hands, ... hide the face
        face = np.flatnonzero(tri >= 0)
        rng = np.random.default_rng(index) if self.deterministic else None
        valid = np.ones(self.k, bool)
        if face.size:
            pick = face[np.minimum((self._uniform(rng, (self.k,)) * face.size).astype(np.int64),
                                   face.size - 1)]
        else:
            pick, valid[:] = np.zeros(self.k, np.int64), False
        labels = self.lut[:, np.maximum(tri[pick], 0)]
        if self.color_jitter > 0:
            u = self._uniform(rng, (4,)) * 2 - 1
            gain = 1 + self.color_jitter * (u[:3] + u[3])
            image = np.clip(image.astype(np.float32) * gain.astype(np.float32), 0, 255).astype(np.uint8)
        if self.augment is not None:
            if rng is None:  # torch's generator is seeded per worker and per epoch by the DataLoader
                rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
            image = augment(image, self.augment, rng)
        return {"image": torch.from_numpy(np.array(image)),  # decoded images are read-only
                "pixels": torch.from_numpy(pick.astype(np.int64)),
                "labels": torch.from_numpy(labels), "valid": torch.from_numpy(valid)}


class DFFDataModule(pl.LightningDataModule):
    """Train / validation loaders over one synthetic DFF folder.

    Args:
        data_dir: the folder of jpg + ``.mat`` training views (``data/synthetic_dff/train``).
        model: the morphable model the ``.mat`` parameters refer to.
        lut: (S, T) segmentation table.
        pixels_per_image, color_jitter, augment: see :class:`DFFDataset` (``color_jitter`` and
            ``augment`` apply to the training set only).
        batch_size: images per batch.
        val_fraction: share of the images (the last ones, by file name) held out.
        num_workers: DataLoader processes (0 = in the training process).
    """

    def __init__(self, data_dir: str | Path, model: MorphableModel, lut: np.ndarray,
                 pixels_per_image: int = 512, batch_size: int = 16, val_fraction: float = 0.1,
                 num_workers: int = 0, color_jitter: float = 0.0,
                 augment: AugmentSettings | None = None) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.model, self.lut = model, lut
        self.pixels_per_image, self.color_jitter, self.augment = pixels_per_image, color_jitter, augment
        self.batch_size, self.val_fraction, self.num_workers = batch_size, val_fraction, num_workers
        self.train_set: DFFDataset | None = None
        self.val_set: DFFDataset | None = None
        self.image_size: int | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if not self.data_dir.is_dir() or not any(self.data_dir.glob("*.mat")):
            raise FileNotFoundError(f"{self.data_dir}: no DFF training views; {MISSING_DATA_HINT}")
        records = readers.read_folder(self.data_dir)
        sizes = {r.image_size for r in records}
        if len(sizes) != 1 or len({*next(iter(sizes))}) != 1:
            raise ValueError(f"{self.data_dir}: DFF training images must be square and of one size, "
                             f"found {sorted(sizes)}")
        self.image_size = records[0].image_size[0]
        params = np.stack([record_params(r) for r in records])
        n_val = int(round(self.val_fraction * len(records))) if len(records) > 1 else 0
        n_train = len(records) - n_val
        paths = [r.image_path for r in records]
        common = {"model": self.model, "lut": self.lut, "pixels_per_image": self.pixels_per_image}
        self.train_set = DFFDataset(paths[:n_train], params[:n_train], color_jitter=self.color_jitter,
                                    augment=self.augment, **common)
        self.val_set = DFFDataset(paths[n_train:], params[n_train:], deterministic=True, **common)

    def _loader(self, dataset: DFFDataset | None, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError("call setup() first")
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                          drop_last=shuffle and len(dataset) > self.batch_size)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)
