"""``facealign predict`` without ``--output``: the JSON on standard output, progress on standard error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_faces import face_image, face_layout, mean_shape_dir

from commands.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("output", [[], ["--output", "-"]])
def test_without_output_the_predictions_go_to_stdout_as_clean_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], output: list[str]) -> None:
    model = mean_shape_dir(tmp_path / "aligner")
    lm = face_layout() * [0.4, -0.4] + 60.0
    image = tmp_path / "a.png"
    Image.fromarray(face_image(lm)).save(image)
    box = [float(v) for v in np.r_[lm.min(0), lm.max(0)]]
    (tmp_path / "boxes.json").write_text(json.dumps({str(image): [box]}))
    code = main(["predict", "--params", str(REPO / "params.yaml"), "--model", str(model),
                 "--boxes", str(tmp_path / "boxes.json"), str(image), *output])
    captured = capsys.readouterr()
    assert code == 0
    preds = json.loads(captured.out)  # nothing but the JSON list
    assert [p["image"] for p in preds] == [str(image)] and preds[0]["faces"][0]["box"] == box
    assert "1 face(s) from given boxes" in captured.err
    assert not (tmp_path / "-").exists()
