"""DFF-SDM and SIFT-SDM behind the common aligner interface.

A saved SDM aligner is a directory::

    aligner.json    {"family": "dff_sdm" | "sift_sdm", "format_version": 1,
                     "descriptor": "dff" | "sift", "settings": {...the sdm section...},
                     "mlflow_run_id": the fit's run or null,
                     "landmark_vertices": [L ints], "training": {...fit metrics}}
    cascade.npz     the descent maps (facealign.sdm.regression.Cascade)
    face_model.npz  the morphable model the parameters refer to
    extractor/      the DFF network (dff_sdm only; a copy of the trained models/dff)

Inference per face: crop the box to the descriptor's working size, place the frontal mean
face in the box, run the cascade (:mod:`facealign.sdm.state`), map the camera back to the
image.  Outputs are the projections of the fitted mesh's 68 landmark vertices, their
z-buffer visibility in the whole image, the pose in degrees and the 3DMM parameters
(identity / expression components beyond the fitted ones are zero).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from threadpoolctl import ThreadpoolController

from facealign.aligners.base import Alignment
from facealign.manifest import read_file, read_manifest, write_manifest
from facealign.sdm.crops import boxes_to_crop, crop_faces
from facealign.sdm.descriptors import Descriptor, DFFDescriptor, SIFTDescriptor
from facealign.sdm.regression import Cascade
from facealign.sdm.settings import SDMSettings
from facealign.sdm.state import SDMGeometry, SDMState, run_cascade
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import from_crop

FORMAT_VERSION = 1
EXTRACTOR_DIR = "extractor"


class SDMAligner:
    """Cascaded regression on DFF (``name = "dff-sdm"``) or SIFT (``"sift-sdm"``) descriptors.

    Args:
        model: the full morphable model (parameters are reported in its layout).
        geometry: landmark set and fitted components, built from ``model``.
        descriptor: the descriptor the cascade was trained with.
        cascade: the learned descent maps.
        crop_scale: crop side / longer side of the face box.
    """

    content_hash: str | None = None  # of the directory it was loaded from (aligners.loading)

    def __init__(self, model: MorphableModel, geometry: SDMGeometry, descriptor: Descriptor,
                 cascade: Cascade, crop_scale: float) -> None:
        self.model = model
        self.geometry = geometry
        self.descriptor = descriptor
        self.cascade = cascade
        self.crop_scale = float(crop_scale)
        self.name = f"{descriptor.name}-sdm"
        # the per-face products (mesh, descent maps) are memory-bound vector-matrix products:
        # one BLAS thread is as fast alone and 3-5x faster when the cores are shared
        self._blas = ThreadpoolController()

    @property
    def device(self) -> str:
        """Where the descriptor network runs (``cpu``, ``cuda``, ``onnxruntime:<provider>``);
        ``cpu`` for SIFT."""
        extractor = getattr(self.descriptor, "extractor", None)
        return str(getattr(extractor, "device", "cpu"))

    def align(self, images: list[np.ndarray], boxes: np.ndarray) -> list[Alignment]:
        """See :class:`facealign.aligners.base.Aligner`."""
        return self.align_timed(images, boxes)[0]

    def align_timed(self, images: list[np.ndarray], boxes: np.ndarray
                    ) -> tuple[list[Alignment], dict[str, float | list[float]]]:
        """:meth:`align` plus wall times in seconds for the whole batch.

        NumPy's BLAS runs on one thread during the call (restored after; the network keeps
        torch's or ONNX Runtime's threads).

        Returns:
            the alignments and ``{"crop_s", "extract_s", "iterations_s": [per iteration],
            "output_s"}``.
        """
        with self._blas.limit(limits=1, user_api="blas"):
            return self._align_timed(images, boxes)

    def _align_timed(self, images: list[np.ndarray], boxes: np.ndarray
                     ) -> tuple[list[Alignment], dict[str, float | list[float]]]:
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(images) != len(boxes):
            raise ValueError(f"got {len(images)} images but {len(boxes)} boxes")
        if not len(images):
            return [], {"crop_s": 0.0, "extract_s": 0.0, "iterations_s": [], "output_s": 0.0}
        size = self.descriptor.image_size
        clock = time.perf_counter()
        crops, squares = crop_faces(images, boxes, size, self.crop_scale)
        t_crop = time.perf_counter()
        prepared = self.descriptor.prepare(crops)
        t_extract = time.perf_counter()
        marks = [t_extract]
        state = run_cascade(self.geometry, self.descriptor, self.cascade.maps, prepared,
                            self.geometry.initial_state(boxes_to_crop(boxes, squares, size)),
                            on_iteration=lambda k, s: marks.append(time.perf_counter()))
        out = self._outputs(images, boxes, squares, state)
        timings = {"crop_s": t_crop - clock, "extract_s": t_extract - t_crop,
                   "iterations_s": list(np.diff(marks)), "output_s": time.perf_counter() - marks[-1]}
        return out, timings

    def _outputs(self, images: list[np.ndarray], boxes: np.ndarray, squares: np.ndarray,
                 state: SDMState) -> list[Alignment]:
        pose = from_crop(state.pose, squares, self.descriptor.image_size)
        image_state = SDMState(pose, state.coeffs)
        points = self.geometry.points(image_state)[:, :68, :2]
        visible = np.empty((len(images), 68), bool)
        sizes = np.array([image.shape[:2] for image in images])
        for h, w in np.unique(sizes, axis=0):  # one z-buffer batch per image size
            group = np.flatnonzero((sizes == (h, w)).all(1))
            part = SDMState(pose[group], state.coeffs[group])
            visible[group] = self.geometry.visibility(part, int(h), int(w))[:, :68]
        n_id_fit = self.geometry.landmarks.n_id
        out = []
        for b in range(len(images)):
            params = np.zeros(6 + self.model.n_id + self.model.n_exp, np.float32)
            params[:6] = pose[b]
            params[6 : 6 + n_id_fit] = state.coeffs[b, :n_id_fit]
            n_exp_fit = state.coeffs.shape[1] - n_id_fit
            params[6 + self.model.n_id : 6 + self.model.n_id + n_exp_fit] = state.coeffs[b, n_id_fit:]
            pitch, yaw, roll = np.degrees(pose[b, 1:4])
            out.append(Alignment(
                landmarks=points[b].astype(np.float32), visible=visible[b], yaw=float(yaw),
                pitch=float(pitch), roll=float(roll), box=boxes[b].astype(np.float32), params=params,
            ))
        return out


DFFAligner = SDMAligner
"""The DFF-SDM aligner of the issue: an :class:`SDMAligner` with the DFF descriptor."""


def build_geometry(model: MorphableModel, vertex_ids: np.ndarray, settings: SDMSettings) -> SDMGeometry:
    """The SDM geometry for ``settings`` (fitted components, shape prior noise, regressed points)."""
    return SDMGeometry.from_model(model, vertex_ids, settings.n_id, settings.n_exp, settings.shape_noise,
                                  settings.visibility_scale, settings.n_targets)


def make_descriptor(kind: str, settings: SDMSettings, extractor_dir: str | Path | None = None,
                    runtime: str = "torch") -> Descriptor:
    """The descriptor ``kind`` ("dff" | "sift"); DFF loads its network from ``extractor_dir``
    on ``runtime`` ("torch", or "onnxruntime" for an exported extractor)."""
    if kind == "sift":
        return SIFTDescriptor(settings.sift_image_size, settings.sift_patch)
    if kind == "dff":
        path = Path(extractor_dir if extractor_dir is not None else settings.dff_model)
        if not path.exists():
            raise FileNotFoundError(f"{path}: DFF extractor not found (run `dvc repro train_dff`)")
        if runtime == "onnxruntime":
            from facealign.models.dff_onnx import OnnxDFFExtractor

            return DFFDescriptor(OnnxDFFExtractor.load(path), settings.dff_batch_size)
        from facealign.models.dff_extractor import load_dff_extractor

        return DFFDescriptor(load_dff_extractor(path), settings.dff_batch_size)
    raise ValueError(f"unknown descriptor {kind!r} (dff | sift)")


def save_sdm_aligner(directory: str | Path, model: MorphableModel, vertex_ids: np.ndarray,
                     cascade: Cascade, descriptor: str, settings: SDMSettings,
                     training: dict | None = None) -> Path:
    """Write everything but the DFF network (the caller copies it to ``extractor/``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cascade.save(directory / "cascade.npz")
    model.save(directory / "face_model.npz")
    training = dict(training or {})
    manifest = {"family": f"{descriptor}_sdm", "format_version": FORMAT_VERSION,
                "descriptor": descriptor, "settings": settings.to_dict(),
                "mlflow_run_id": training.pop("mlflow_run_id", None),
                "landmark_vertices": [int(v) for v in vertex_ids], "training": training}
    write_manifest(directory, manifest)
    return directory


def load_sdm_aligner(path: str | Path) -> SDMAligner:
    """Load a directory written by :func:`save_sdm_aligner` (the ``dff_sdm`` / ``sift_sdm`` families)
    or exported by :func:`facealign.aligners.onnx_aligners.export_aligner` (``dff_sdm_onnx``)."""
    path = Path(path)
    manifest = read_manifest(path, ("dff_sdm", "sift_sdm", "dff_sdm_onnx"),
                             required=("descriptor", "settings", "landmark_vertices"))
    settings = SDMSettings.from_section(manifest["settings"])
    model = read_file(path / "face_model.npz", MorphableModel.load, "face model")
    vertex_ids = np.asarray(manifest["landmark_vertices"], np.int64)
    cascade = read_file(path / "cascade.npz", Cascade.load, "SDM cascade")
    descriptor = make_descriptor(manifest["descriptor"], settings, path / EXTRACTOR_DIR,
                                 manifest.get("runtime", "torch"))
    geometry = build_geometry(model, vertex_ids, settings)
    expected = vertex_ids.size * descriptor.dim
    if cascade.maps and cascade.maps[0].matrix.shape != (expected, geometry.n_outputs):
        raise ValueError(f"{path / 'cascade.npz'}: maps of shape {cascade.maps[0].matrix.shape} do not "
                         f"fit {vertex_ids.size} points x {descriptor.dim} values -> {geometry.n_outputs}")
    return SDMAligner(model, geometry, descriptor, cascade, settings.crop_scale)
