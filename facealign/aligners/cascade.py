"""The cascade CNN aligner: crop, iterate p_{k+1} = p_k + Net_k(I, PNCC(p_k)), read out.

Loaded from an aligner directory written by :mod:`facealign.models.cascade_bundle`
(``load_cascade_aligner`` is the ``cascade`` entry of
:data:`facealign.aligners.loading.LOADERS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facealign.aligners.base import Alignment
from facealign.aligners.timing import StageTimer
from facealign.models.cascade_bundle import CascadeBundle, load_bundle
from facealign.models.fused_net import fold_batch_norm
from facealign.models.net_input import PnccRenderer, crop_image, crop_to_network, pncc_to_network, square_box
from facealign.models.runners import Runner, TorchRunner
from facealign.models.sparse_geometry import SparseGeometry
from facegeom.parameters import from_crop
from facegeom.pncc import render_pncc
from facegeom.rasterize import depth_buffer, depth_visibility


@dataclass
class CascadeAlignment(Alignment):
    """An :class:`Alignment` with the cascade's optional dense outputs.

    Attributes:
        mesh: (N, 3) float32 image-space vertices (pixels, y down; depth larger = nearer), or None.
        pncc: (H, W, 3) float32 PNCC of the final estimate over the whole image, or None.
    """

    mesh: np.ndarray | None = None
    pncc: np.ndarray | None = None


class CascadeAligner:
    """Large-pose alignment with a trained cascade.

    Args:
        bundle: the trained cascade (its ``weights`` are not read when ``nets`` is given).
        device: torch device for the networks (default: CUDA when available).
        nets: K runners (:mod:`facealign.models.runners`), (B, 6, S, S) float32 -> (B, P);
            default: the bundle's networks on PyTorch with their batch norms folded.
    """

    name = "cascade"
    content_hash: str | None = None  # of the directory it was loaded from (aligners.loading)

    def __init__(self, bundle: CascadeBundle, device: str | torch.device | None = None,
                 nets: list[Runner] | None = None) -> None:
        self.bundle = bundle
        if nets is None:
            torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
            nets = [TorchRunner(fold_batch_norm(net), torch_device)
                    for net in bundle.build_nets(torch_device)]
        if len(nets) != len(bundle.delta_stats):
            raise ValueError(f"cascade: {len(nets)} networks but {len(bundle.delta_stats)} update statistics")
        self.nets = nets
        self.device = nets[0].device if nets else "cpu"
        self.render = PnccRenderer(bundle.model)
        self.landmark_geometry = SparseGeometry(bundle.model)
        self.size = bundle.input_size

    @property
    def stages(self) -> int:
        return len(self.nets)

    def crop_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Face boxes (B, 4) -> the square crop boxes (B, 4) the cascade looks at."""
        return square_box(np.asarray(boxes, np.float64).reshape(-1, 4), self.bundle.crop_scale,
                          self.bundle.crop_shift)

    def iterate(self, images: list[np.ndarray], boxes: np.ndarray, timer: StageTimer | None = None
                ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Run the cascade.

        The (B, 6, S, S) network input is allocated once per call: its crop channels are
        written once, the PNCC channels rendered into it stage after stage.

        Args:
            images: B RGB uint8 images (H_i, W_i, 3).
            boxes: (B, 4) face boxes ``(x0, y0, x1, y1)``, pixels.
            timer: receives the time of each part (``crop``, ``stage<k>_geometry``,
                ``stage<k>_pncc``, ``stage<k>_network``, ``stage<k>_update``).
        Returns:
            the crop boxes (B, 4) and K + 1 estimates (B, P) in the **image frame**: p_0 (the
            mean placed by the box), then after each stage.
        """
        clock = timer or StageTimer(enabled=False)
        crop_boxes = self.crop_boxes(boxes)
        if len(images) != len(crop_boxes):
            raise ValueError(f"got {len(images)} images but {len(crop_boxes)} boxes")
        size, n = self.size, len(crop_boxes)
        x = np.empty((n, 6, size, size), np.float32)
        pncc = np.empty((n, size, size, 3), np.float32)
        crop_to_network(np.stack([crop_image(img, box, size)
                                  for img, box in zip(images, crop_boxes, strict=True)]), x)
        clock.mark("crop")
        p = np.repeat(self.bundle.param_stats.mean[None].astype(np.float64), n, 0)
        history = [from_crop(p, crop_boxes, size)]
        for k, (net, stats) in enumerate(zip(self.nets, self.bundle.delta_stats, strict=True)):
            verts = self.render.vertices(p)
            clock.mark(f"stage{k}_geometry")
            for b in range(n):
                self.render.render_into(verts[b], pncc[b])
            pncc_to_network(pncc, x)
            clock.mark(f"stage{k}_pncc")
            out = net(x)
            clock.mark(f"stage{k}_network")
            p = p + stats.denormalize(out)
            history.append(from_crop(p, crop_boxes, size))
            clock.mark(f"stage{k}_update")
        return crop_boxes, history

    def align(self, images: list[np.ndarray], boxes: np.ndarray, return_mesh: bool = False,
              return_pncc: bool = False) -> list[CascadeAlignment]:
        """See :class:`facealign.aligners.base.Aligner`; optionally with mesh and PNCC."""
        return self.align_with_history(images, boxes, return_mesh, return_pncc)[1]

    def align_timed(self, images: list[np.ndarray], boxes: np.ndarray
                    ) -> tuple[list[CascadeAlignment], dict[str, float]]:
        """:meth:`align` plus the wall time of each part for the whole batch, seconds:
        ``crop``, per stage ``stage<k>_geometry`` (vertices), ``stage<k>_pncc`` (render and
        quantise), ``stage<k>_network``, ``stage<k>_update``, then ``landmarks`` (the final
        mesh) and ``visibility`` (z-buffer, pose, outputs)."""
        timer = StageTimer()
        return self.align_with_history(images, boxes, timer=timer)[1], timer.parts

    def align_with_history(self, images: list[np.ndarray], boxes: np.ndarray, return_mesh: bool = False,
                           return_pncc: bool = False, timer: StageTimer | None = None
                           ) -> tuple[list[np.ndarray], list[CascadeAlignment]]:
        """:meth:`align`, also returning the K + 1 estimates (B, P) of :meth:`iterate`."""
        if len(images) == 0:
            return [], []
        clock = timer or StageTimer(enabled=False)
        clock.start()
        _, history = self.iterate(images, boxes, clock)
        face_boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        verts = self.render.vertices(history[-1])
        clock.mark("landmarks")
        out = [self._readout(img, params, v, box, return_mesh, return_pncc)
               for img, params, v, box in zip(images, history[-1], verts, face_boxes, strict=True)]
        clock.mark("visibility")
        return history, out

    def landmarks(self, params: np.ndarray) -> np.ndarray:
        """(B, P) image-frame parameters -> (B, 68, 2) landmark pixels."""
        batch = torch.as_tensor(np.atleast_2d(params), dtype=torch.float64)
        return self.landmark_geometry.landmarks(batch).numpy().astype(np.float32)

    def _readout(self, image: np.ndarray, params: np.ndarray, verts: np.ndarray, box: np.ndarray,
                 return_mesh: bool, return_pncc: bool) -> CascadeAlignment:
        lm = self.bundle.model.landmarks
        h, w = image.shape[:2]
        # self-occlusion on a small raster of the face region, then the image bounds
        side = max(float(np.ptp(verts[:, 0])), float(np.ptp(verts[:, 1])), 1e-6)
        scale = min(1.0, 2.0 * self.size / side)
        small = verts.copy()
        small[:, :2] = (verts[:, :2] - verts[:, :2].min(0)) * scale
        n = int(np.ceil(side * scale)) + 1
        visible = depth_visibility(small, depth_buffer(small, self.render.triangles, n, n), ids=lm)
        pts = verts[lm, :2]
        visible &= (pts[:, 0] >= -0.5) & (pts[:, 0] < w - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] < h - 0.5)
        pitch, yaw, roll = np.degrees(params[1:4])
        return CascadeAlignment(
            landmarks=pts.astype(np.float32), visible=visible, yaw=float(yaw), pitch=float(pitch),
            roll=float(roll), box=box, params=params.astype(np.float32),
            mesh=verts.astype(np.float32) if return_mesh else None,
            pncc=render_pncc(verts, self.render.triangles, self.render.colors, h, w) if return_pncc else None,
        )


def load_cascade_aligner(path: str | Path, device: str | None = None) -> CascadeAligner:
    """The aligner saved in directory ``path`` (or a file inside it)."""
    path = Path(path)
    return CascadeAligner(load_bundle(path.parent if path.is_file() else path), device)
