"""Training data of one cascade stage: face crop + PNCC of p_k in, normalised p* - p_k out.

Frames: ground truth and estimates are kept in the **image frame** (parameters as in
:mod:`facegeom.parameters`, pixels 0-based, y down).  Each sample is cropped by a square
box around its face box (:func:`square_box`), optionally jittered for augmentation, and
moved to that crop with :func:`facegeom.parameters.to_crop`; the PNCC of the current
estimate is rendered at the crop size inside the DataLoader worker.  Training crops may
also get photometric and cut-out augmentation (:mod:`facealign.data.augment`), which
changes pixels only, never the targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from facealign.data import readers
from facealign.data.augment import AugmentSettings, augment
from facealign.models.net_input import PnccRenderer, crop_image, square_box, stack_input, to_network
from facealign.models.param_stats import ZScore
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import N_POSE, join, n_params, to_crop


@dataclass
class FaceSet:
    """Annotated faces, everything in image frames.

    Attributes:
        image_paths: M image files.
        boxes: (M, 4) float64 square crop boxes ``(x0, y0, x1, y1)``, pixels.
        params: (M, P) float64 ground-truth parameters.
        landmarks: (M, 68, 2) float64 ground-truth landmarks, pixels.
        yaw_deg: (M,) ground-truth yaw, degrees.
        images: M decoded RGB uint8 images when cached in memory, else None (read per sample).
    """

    image_paths: list[Path]
    boxes: np.ndarray
    params: np.ndarray
    landmarks: np.ndarray
    yaw_deg: np.ndarray
    images: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.image_paths)

    def image(self, i: int) -> np.ndarray:
        return self.images[i] if self.images is not None else readers.load_image(self.image_paths[i])

    def subset(self, index: np.ndarray) -> FaceSet:
        index = np.asarray(index, np.int64)
        return FaceSet([self.image_paths[i] for i in index], self.boxes[index], self.params[index],
                       self.landmarks[index], self.yaw_deg[index],
                       None if self.images is None else [self.images[i] for i in index])


def load_faceset(folder: str | Path, model: MorphableModel, crop_scale: float, crop_shift: float,
                 cache_images: bool = True) -> FaceSet:
    """Read a folder in the 300W-LP / AFLW2000-3D layout for ``model``.

    Face boxes are the ground-truth landmark boxes (the benchmark protocol), made square by
    :func:`square_box`.  Raises FileNotFoundError with the command that makes the data.
    """
    folder = Path(folder)
    if not folder.is_dir() or not any(folder.glob("*.mat")):
        raise FileNotFoundError(f"{folder}: training data not found; create it with "
                                f"`dvc repro synthesize` (or fetch it with `dvc pull`)")
    records = readers.read_folder(folder)
    if records[0].shape_para.size != model.n_id or records[0].exp_para.size != model.n_exp:
        raise ValueError(f"{folder}: coefficients ({records[0].shape_para.size} identity, "
                         f"{records[0].exp_para.size} expression) do not match the face model "
                         f"({model.n_id}, {model.n_exp}); rerun `dvc repro synthesize`")
    params = np.stack([join(readers.pose(r), r.shape_para, r.exp_para) for r in records]).astype(np.float64)
    landmarks = np.stack([r.landmarks68 for r in records]).astype(np.float64)
    face_boxes = np.concatenate([landmarks.min(1), landmarks.max(1)], axis=1)
    images = [readers.load_image(r.image_path) for r in records] if cache_images else None
    return FaceSet([r.image_path for r in records], square_box(face_boxes, crop_scale, crop_shift),
                   params, landmarks, np.array([readers.yaw_degrees(r) for r in records]), images)


def jitter_box(box: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Shift a square box by N(0, amount) x side per axis and scale it by exp(N(0, amount))."""
    side = box[2] - box[0]
    centre = (box[:2] + box[2:]) / 2 + rng.normal(0.0, amount, 2) * side
    half = side * np.exp(rng.normal(0.0, amount)) / 2
    return np.concatenate([centre - half, centre + half])


class CascadeDataset(Dataset):
    """Samples of stage k: ``{"input", "target", "p_k", "landmarks", "index"}``.

    * input: (6, S, S) float32 crop and PNCC of p_k, see :func:`network_input`.
    * target: (P,) float32 ``delta_stats.normalize(p* - p_k)`` in the crop frame.
    * p_k: (P,) float32 the current estimate in the crop frame (raw units).
    * landmarks: (68, 2) float32 ground-truth landmarks in crop pixels.

    Each face's crop and the PNCC of p_k are prepared once per stage, by whichever worker
    first needs them, as an 8-bit (S + 2 pad, S + 2 pad, 6) stack over a slightly larger
    *context* box (``pad`` = S / 8 crop pixels per side) kept in shared memory
    (``cache_pncc``).  The unjittered crop is its centre; a jittered crop is resampled from it
    (the box change is a similarity, so this equals re-rendering up to interpolation).
    With ``param_noise`` the PNCC is rendered afresh for every sample from the (cached)
    model-space shape of p_k under the perturbed pose.

    Args:
        faces: the annotated faces.
        model: the morphable model (its NCC colours the PNCC).
        estimates: (M, P) p_k in the image frame.
        delta_stats: z-score of this stage's updates.
        input_size: S, pixels.
        box_jitter: augmentation (0 = none), see :func:`jitter_box`.
        param_noise: augmentation: Gaussian noise on the six pose values of p_k (crop frame),
            in units of ``delta_stats.std`` (the spread of this stage's updates).
        cache_pncc: keep the prepared stacks (M * (1.25 S)^2 * 6 bytes) and, with
            ``param_noise``, the shapes of p_k (M * N * 12 bytes) in shared memory.
        augment: photometric / cut-out augmentation of the (S, S, 3) crop (None or all
            probabilities 0 = none; training sets only).  It is applied after cropping and
            before stacking with the PNCC, so the cache holds the un-augmented crop.

    Random draws (box jitter, pose noise, then augmentation) come from one numpy generator
    per sample, seeded from torch's generator (seeded per worker and per epoch).
    """

    def __init__(self, faces: FaceSet, model: MorphableModel, estimates: np.ndarray, delta_stats: ZScore,
                 input_size: int, box_jitter: float = 0.0, param_noise: float = 0.0,
                 cache_pncc: bool = True, augment: AugmentSettings | None = None) -> None:
        if estimates.shape != (len(faces), n_params(model)):
            raise ValueError(f"estimates {estimates.shape} do not match "
                             f"{len(faces)} faces x {n_params(model)} parameters")
        self.faces, self.estimates = faces, np.asarray(estimates, np.float64)
        self.delta_stats, self.size = delta_stats, int(input_size)
        self.box_jitter, self.param_noise = float(box_jitter), float(param_noise)
        self.augment = augment if augment is not None and augment.active else None
        self.render = PnccRenderer(model)
        self.pad = max(1, round(self.size / 8))
        self.cache = self.cached = self.shapes = self.shaped = None
        if cache_pncc:
            side = self.size + 2 * self.pad
            self.cache = torch.zeros(len(faces), side, side, 6, dtype=torch.uint8).share_memory_()
            self.cached = torch.zeros(len(faces), dtype=torch.bool).share_memory_()
            if self.param_noise > 0:
                self.shapes = torch.zeros(len(faces), model.n_vertices, 3).share_memory_()
                self.shaped = torch.zeros(len(faces), dtype=torch.bool).share_memory_()

    def __len__(self) -> int:
        return len(self.faces)

    def _prepare(self, i: int, box: np.ndarray, size: int) -> np.ndarray:
        """Crop face ``i`` by ``box`` at ``size`` px with the PNCC of p_k: (size, size, 6) uint8."""
        crop = crop_image(self.faces.image(i), box, size)
        return stack_input(crop, self.render(to_crop(self.estimates[i], box, size), size))

    def _context(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The cached stack of face ``i`` over its context box, and that box."""
        base = self.faces.boxes[i]
        margin = self.pad * (base[2] - base[0]) / self.size
        box = base + np.array([-margin, -margin, margin, margin])
        if not bool(self.cached[i]):
            self.cache[i] = torch.from_numpy(self._prepare(i, box, self.size + 2 * self.pad))
            self.cached[i] = True
        return self.cache[i].numpy(), box

    def _shape(self, i: int) -> np.ndarray:
        """Model-space shape (N, 3) of p_k of face ``i``."""
        if self.shapes is None:
            return self.render.shape(self.estimates[i])
        if not bool(self.shaped[i]):
            self.shapes[i] = torch.from_numpy(self.render.shape(self.estimates[i]))
            self.shaped[i] = True
        return self.shapes[i].numpy()

    def _stack(self, i: int, box: np.ndarray) -> np.ndarray:
        """The (S, S, 6) uint8 crop + PNCC of p_k for crop box ``box``."""
        if self.cache is None:
            return self._prepare(i, box, self.size)
        context, ctx_box = self._context(i)
        if box is self.faces.boxes[i]:
            return context[self.pad : self.pad + self.size, self.pad : self.pad + self.size]
        ctx_px = (self.size + 2 * self.pad) / (ctx_box[2] - ctx_box[0])
        return crop_image(context, (box - ctx_box[[0, 1, 0, 1]]) * ctx_px, self.size)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        box = self.faces.boxes[i]
        if self.box_jitter > 0 or self.param_noise > 0 or self.augment is not None:
            # torch's generator is seeded per worker and per epoch by the DataLoader
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
            if self.box_jitter > 0:
                box = jitter_box(box, self.box_jitter, rng)
        p_k = to_crop(self.estimates[i], box, self.size)
        stack = self._stack(i, box)
        if self.param_noise > 0:
            p_k[:N_POSE] += rng.normal(0.0, self.param_noise, N_POSE) * self.delta_stats.std[:N_POSE]
        image = stack[..., :3]
        if self.augment is not None:  # augment never writes into its input (the stack may be the cache's)
            image = augment(image, self.augment, rng)
        if self.param_noise > 0:
            pncc = self.render.render_shape(p_k[:N_POSE], self._shape(i), self.size)
            stack = stack_input(image, pncc)
        elif self.augment is not None:
            stack = np.concatenate([image, stack[..., 3:]], axis=2)
        p_true = to_crop(self.faces.params[i], box, self.size)
        scale = self.size / (box[2] - box[0])
        return {
            "input": torch.from_numpy(to_network(stack)),
            "target": torch.from_numpy(self.delta_stats.normalize(p_true - p_k)),
            "p_k": torch.from_numpy(p_k.astype(np.float32)),
            "landmarks": torch.from_numpy(((self.faces.landmarks[i] - box[:2]) * scale).astype(np.float32)),
            "index": i,
        }


class CascadeDataModule(pl.LightningDataModule):
    """Train / validation loaders of one stage; PNCC rendering runs in ``num_workers`` processes."""

    def __init__(self, train: CascadeDataset, val: CascadeDataset | None, batch_size: int,
                 num_workers: int = 2, persistent_workers: bool = True) -> None:
        super().__init__()
        self.train_set, self.val_set = train, val
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.persistent = bool(persistent_workers) and self.num_workers > 0

    def _loader(self, dataset: Dataset, shuffle: bool, drop_last: bool) -> DataLoader:
        return make_loader(dataset, self.batch_size, self.num_workers, shuffle, drop_last, self.persistent)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True, drop_last=len(self.train_set) > self.batch_size)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_set is None else self._loader(self.val_set, False, False)


def make_loader(dataset: Dataset, batch_size: int, num_workers: int, shuffle: bool = False,
                drop_last: bool = False, persistent: bool = False) -> DataLoader:
    """A DataLoader with pinned memory on GPU machines and prefetching workers."""
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, num_workers=num_workers,
        persistent_workers=persistent and num_workers > 0, pin_memory=torch.cuda.is_available(),
        prefetch_factor=4 if num_workers > 0 else None,
    )
