"""Calibrate the Haar face detector's boxes to the 68-landmark box, on generated faces only.

The aligners are trained and evaluated on the box of the 68 landmarks; a Haar window is a
different box (frontal: forehead to chin, profile: offset towards the face's back).  This fits,
per cascade, the linear map ``(x, y, w, h) -> (x + a*w, y + b*h, x + c*w, y + d*h)`` (medians
over the detections matched to a face, in the frame the cascade saw: mirrored for the mirrored
profile pass) on AFLW2000-3D-layout folders of *generated* faces, never on the real dev photos,
and reports each detector variant's detection rate by |yaw| bin and the calibrated boxes' IoU.

    python bench/calibrate_detector.py --generate 300              # 256 px faces, yaw +-90 deg
    python bench/calibrate_detector.py --data data/synthetic/test  # or folders already made

Prints a table and the constants for ``facealign.detect.HAAR_TO_LANDMARK_BOX``; writes
``bench/results/detector_calibration.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from facealign.detect import HaarFaceDetector

REPO = Path(__file__).resolve().parents[1]
BINS = ((0, 30), (30, 60), (60, 91))  # |yaw| degrees


def generate(folder: Path, count: int, params: Path) -> Path:
    """``count`` generated faces at 256 px, landmark box 30-55 % of the side, placed anywhere."""
    from facealign.config import load_params
    from facealign.data.synthesize import SynthesisConfig, synthesize_split

    cfg = load_params(params)
    section = {**cfg["synthesize"], "image_size": 256, "face_scale": [0.3, 0.55], "jitter": 0.15, "seed": 11}
    return synthesize_split(cfg["paths"]["face_model"], SynthesisConfig.from_section(section), "test",
                            count, folder, workers=2, progress=False)


def _in_view(box: np.ndarray, mirrored: bool, width: int) -> np.ndarray:
    return np.array([width - box[2], box[1], width - box[0], box[3]]) if mirrored else box


def _matches(rect: np.ndarray, box: np.ndarray) -> bool:
    """A window belongs to the face when its centre lies in the box and its size is plausible."""
    x, y, w, h = rect
    side = box[2] - box[0]
    return box[0] <= x + w / 2 <= box[2] and box[1] <= y + h / 2 <= box[3] and 0.5 * side <= w <= 2.2 * side


def _iou(p: np.ndarray, q: np.ndarray) -> float:
    iw, ih = max(0.0, min(p[2], q[2]) - max(p[0], q[0])), max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = iw * ih
    return float(inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter))


def collect(folders: list[Path]) -> list[dict]:
    """Per face: |yaw| bin, the landmark box in the detector's (shrunk) frame, every raw window."""
    from facealign.data.readers import load_image
    from facealign.evaluation import load_benchmark

    detector, faces = HaarFaceDetector(), []
    for folder in folders:
        bench = load_benchmark(folder)
        for record, box, yaw in zip(bench.records, bench.boxes, bench.yaw_deg, strict=True):
            found, scale, width = detector.raw_detections(load_image(record.image_path))
            faces.append({"bin": next(i for i, (lo, hi) in enumerate(BINS) if lo <= abs(yaw) < hi),
                          "box": np.asarray(box, np.float64) * scale, "width": width, "found": found})
    return faces


def fit(faces: list[dict]) -> dict[str, list[float]]:
    """The median offsets (a, b, c, d) per cascade kind over the windows matched to a face."""
    offsets: dict[str, list[list[float]]] = {"frontal": [], "profile": []}
    for face in faces:
        for kind, mirrored, rect in face["found"]:
            box = _in_view(face["box"], mirrored, face["width"])
            if _matches(rect, box):
                x, y, w, h = rect
                offsets[kind].append([(box[0] - x) / w, (box[1] - y) / h, (box[2] - x) / w, (box[3] - y) / h])
    return {kind: [round(float(v), 3) for v in np.median(np.asarray(o), axis=0)]
            for kind, o in offsets.items() if o}


def score(faces: list[dict], maps: dict[str, list[float]], kinds: tuple[str, ...]) -> dict:
    """Detection rate by bin (the largest window's calibrated box overlaps the face by IoU > 0.3)
    and the mean IoU of those boxes, for a detector made of ``kinds``."""
    hits, totals, ious = np.zeros(3), np.zeros(3), []
    for face in faces:
        totals[face["bin"]] += 1
        found = sorted((f for f in face["found"] if f[0] in kinds), key=lambda f: -f[2][2] * f[2][3])
        if not found:
            continue
        kind, mirrored, rect = found[0]
        a, b, c, d = maps[kind]
        x, y, w, h = rect
        box = _in_view(np.array([x + a * w, y + b * h, x + c * w, y + d * h]), mirrored, face["width"])
        iou = _iou(box, face["box"])
        if iou > 0.3:
            hits[face["bin"]] += 1
            ious.append(iou)
    rate = hits / np.maximum(totals, 1)
    return {"found_0_30": round(float(rate[0]), 3), "found_30_60": round(float(rate[1]), 3),
            "found_60_90": round(float(rate[2]), 3),
            "mean_iou": round(float(np.mean(ious)), 3) if ious else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="*", default=[], help="AFLW2000-3D-layout folders of generated faces")
    parser.add_argument("--generate", type=int, default=0, help="also generate this many faces (256 px)")
    parser.add_argument("--params", default=str(REPO / "params.yaml"))
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "detector_calibration.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(f) for f in args.data]
        if args.generate:
            folders.append(generate(Path(tmp), args.generate, Path(args.params)))
        if not folders:
            print("give --data folders of generated faces and/or --generate N")
            return 2
        faces = collect(folders)
    maps = fit(faces)
    variants = {"frontal": ("frontal",), "frontal+profile (both ways)": ("frontal", "profile")}
    rows = {name: score(faces, maps, kinds) for name, kinds in variants.items()}
    print(f"{len(faces)} generated faces from {', '.join(map(str, folders))}")
    print(f"{'detector':30s} found [0,30]  (30,60]  (60,90]  mean IoU")
    for name, r in rows.items():
        print(f"{name:30s} {r['found_0_30']:11.2f} {r['found_30_60']:8.2f} {r['found_60_90']:8.2f} "
              f"{r['mean_iou'] or 0:9.3f}")
    print(f"HAAR_TO_LANDMARK_BOX = {json.dumps({k: tuple(v) for k, v in maps.items()})}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"faces": len(faces), "folders": [str(f) for f in folders],
                               "haar_to_landmark_box": maps, "variants": rows}, indent=2) + "\n")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
