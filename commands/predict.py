"""``facealign predict``: landmarks, visibility and pose for images, as the prediction contract.

Boxes per image come from ``--boxes`` (a JSON object mapping an image path, as given on the
command line, or its file name, to a list of ``[x0, y0, x1, y1]``), else from OpenCV's Haar
cascades (frontal and profile, both orientations), else the whole image.  The output is a
JSON list, one ``{"image", "faces"}`` per image, in original-image pixels and degrees, written to
``--output`` or, without it, to standard output (progress lines then go to standard error, so
``facealign predict face.jpg | jq`` reads clean JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HELP = "predict 68 landmarks, visibility and pose for images (JSON list, one entry per image)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (jpg, png, ...)")
    parser.add_argument("--model", default="models:/face-alignment@champion",
                        help="registry URI, aligner directory or mean-shape (default: %(default)s)")
    parser.add_argument("--boxes", help="JSON object: image path -> list of [x0, y0, x1, y1]")
    parser.add_argument("--output", help="predictions JSON to write (default or '-': standard output, "
                                          "with the progress lines on standard error)")


def read_boxes(path: str | None) -> dict[str, list]:
    """The ``--boxes`` file as ``{path: [box, ...]}`` (a single box is accepted too)."""
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a JSON object mapping image paths to lists of boxes")
    out = {}
    for key, boxes in data.items():
        if isinstance(boxes, list) and len(boxes) == 4 and all(isinstance(v, int | float) for v in boxes):
            boxes = [boxes]
        if not isinstance(boxes, list):
            raise ValueError(f"{path}: entry {key!r} must be a list of [x0, y0, x1, y1]")
        out[str(key)] = boxes
    return out


def boxes_for(image: str, table: dict[str, list]) -> list | None:
    """The boxes given for ``image``: exact path, normalised path, then file name."""
    for key in (image, str(Path(image)), str(Path(image).resolve()), Path(image).name):
        if key in table:
            return table[key]
    return None


def run(args: argparse.Namespace, cfg: dict) -> int:
    import mlflow

    from facealign import tracking
    from facealign.data.readers import load_image
    from facealign.detect import BoxError, HaarFaceDetector
    from facealign.predict import predict_image
    from facealign.registry.loading import load_aligner
    from faceio.atomic import write_text

    to_stdout = args.output in (None, "-")
    log = sys.stderr if to_stdout else sys.stdout
    table = read_boxes(args.boxes)
    mlflow.set_tracking_uri(tracking.tracking_uri(cfg))
    aligner = load_aligner(args.model, cfg["paths"]["face_model"])
    detector = HaarFaceDetector()
    results = []
    for image_path in args.images:
        image = load_image(image_path)
        try:
            entry, source = predict_image(aligner, image, image_path, boxes_for(image_path, table), detector)
        except BoxError as exc:
            raise ValueError(f"{image_path}: {exc}") from exc
        results.append(entry)
        print(f"{image_path}: {len(entry['faces'])} face(s) from {source} boxes", file=log)
    text = json.dumps(results, indent=1) + "\n"
    if to_stdout:
        sys.stdout.write(text)
        return 0
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_text(output, text)
    print(f"{output}: {len(results)} image(s)")
    return 0
