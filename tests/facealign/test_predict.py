"""``facealign predict``: boxes from --boxes, detection or the whole image; the contract JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from tiny_faces import face_image, face_layout, mean_shape_dir

from commands.cli import main

REPO = Path(__file__).resolve().parents[2]


def _images(tmp_path: Path) -> tuple[list[str], np.ndarray]:
    lm = face_layout() * [0.4, -0.4] + 60.0
    paths = []
    for name in ("a.jpg", "b.png"):
        Image.fromarray(face_image(lm)).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    return paths, lm


def test_predict_uses_given_boxes_and_writes_the_contract(tmp_path: Path) -> None:
    model = mean_shape_dir(tmp_path / "aligner")
    (a, b), lm = _images(tmp_path)
    box = [float(v) for v in np.r_[lm.min(0), lm.max(0)]]
    (tmp_path / "boxes.json").write_text(json.dumps({a: [box, [0, 0, 50, 50]], "b.png": [box]}))
    out = tmp_path / "preds.json"
    code = main(["predict", "--params", str(REPO / "params.yaml"), "--model", str(model),
                 "--boxes", str(tmp_path / "boxes.json"), a, b, "--output", str(out)])
    assert code == 0
    preds = json.loads(out.read_text())
    assert [p["image"] for p in preds] == [a, b]
    assert [len(p["faces"]) for p in preds] == [2, 1]
    face = preds[0]["faces"][0]
    assert set(face) == {"box", "landmarks", "visible", "pose"} and face["box"] == box
    assert np.array(face["landmarks"]).shape == (68, 2) and len(face["visible"]) == 68
    assert np.abs(np.array(face["landmarks"]) - lm).mean() < 1.5
    assert set(face["pose"]) == {"yaw", "pitch", "roll"}


def test_without_boxes_every_image_gets_at_least_one_face(tmp_path: Path) -> None:
    model = mean_shape_dir(tmp_path / "aligner")
    (a, _), _ = _images(tmp_path)
    out = tmp_path / "preds.json"
    assert main(["predict", "--params", str(REPO / "params.yaml"), "--model", str(model), a,
                 "--output", str(out)]) == 0
    assert len(json.loads(out.read_text())[0]["faces"]) >= 1


def test_a_box_outside_the_image_or_a_bad_boxes_file_exits_2(tmp_path: Path, capsys) -> None:
    model = mean_shape_dir(tmp_path / "aligner")
    (a, _), _ = _images(tmp_path)
    (tmp_path / "far.json").write_text(json.dumps({a: [[500, 500, 600, 600]]}))
    (tmp_path / "bad.json").write_text("[1, 2]")
    for boxes in ("far.json", "bad.json"):
        code = main(["predict", "--params", str(REPO / "params.yaml"), "--model", str(model),
                     "--boxes", str(tmp_path / boxes), a, "--output", str(tmp_path / "p.json")])
        assert code == 2
    err = capsys.readouterr().err
    assert "outside" in err and "JSON object" in err
