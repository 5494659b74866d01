"""A turned head through HTTP: the served pose is the aligner's, in degrees, sign kept.

The aligner is a real cascade directory whose networks output a zero update, so its
answer is its initial estimate: the tiny procedural face turned 0.6 rad (34.4 degrees)
to the side, tilted 0.2 rad up and rolled -0.1 rad.  Whatever the image, the service
must answer exactly that pose and the landmarks the aligner computes.
"""

from __future__ import annotations

import math
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from server_proc import start_server, stop_server, write_params
from tiny_faces import encode

from facealign.aligners.cascade import load_cascade_aligner
from facealign.models.cascade_bundle import CascadeBundle, save_bundle
from facealign.models.cascade_net import CascadeNet, NetConfig
from facealign.models.param_stats import ZScore
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import n_params

SIZE = 32
NET = {"feature_dim": 16, "pncc_stream": [],
       "image_stream": [{"type": "conv", "out": 4, "kernel": 3, "stride": 2, "pool": True}]}
PITCH, YAW, ROLL = 0.2, 0.6, -0.1  # radians


def _turned_cascade(model_path: Path, directory: Path) -> Path:
    model = MorphableModel.load(model_path)
    p = n_params(model)
    width = float(np.ptp(model.mean[model.landmarks, 0]))
    p0 = np.zeros(p, np.float32)
    p0[:6] = [0.6 * SIZE / width, PITCH, YAW, ROLL, SIZE / 2, SIZE / 2]
    net = CascadeNet(NetConfig.from_section(NET), SIZE, p)
    state = net.state_dict()
    last = [k for k in state if k.endswith("weight")][-1]
    state = {k: torch.zeros_like(v) if k.startswith(last.rsplit(".", 1)[0]) else v for k, v in state.items()}
    ones = np.ones(p, np.float32)
    no_update = ZScore(np.zeros(p, np.float32), ones)
    bundle = CascadeBundle(model, NET, SIZE, 1.4, 0.1, ZScore(p0, ones), [no_update], [state])
    return save_bundle(bundle, directory)


@pytest.fixture(scope="module")
def turned(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path):
    folder = tmp_path_factory.mktemp("serve-turned")
    aligner_dir = _turned_cascade(tiny_model_path, folder / "aligner")
    params = write_params(folder, f"sqlite:///{folder / 'mlflow.db'}")
    proc, base = start_server(params, str(aligner_dir), folder)
    yield base, aligner_dir
    stop_server(proc)


def test_a_turned_head_is_served_with_its_yaw_in_degrees(turned) -> None:
    base, aligner_dir = turned
    image = np.random.default_rng(0).integers(0, 255, (160, 200, 3), dtype=np.uint8)
    box = np.array([50.0, 30.0, 150.0, 140.0])
    with httpx.Client(base_url=base, timeout=60) as client:
        r = client.post("/v1/align", files={"image": ("turned.png", encode(image, "PNG"), "image/png")},
                        data={"box": ",".join(map(str, box))})
    assert r.status_code == 200, r.text
    face = r.json()["faces"][0]
    assert face["pose"]["yaw"] == pytest.approx(math.degrees(YAW), abs=0.01)
    assert face["pose"]["pitch"] == pytest.approx(math.degrees(PITCH), abs=0.01)
    assert face["pose"]["roll"] == pytest.approx(math.degrees(ROLL), abs=0.01)
    direct = load_cascade_aligner(aligner_dir).align([image], box[None])[0]
    assert np.abs(np.array(face["landmarks"]) - direct.landmarks).max() < 0.02
    assert face["visible"] == [bool(v) for v in direct.visible]
    assert not all(face["visible"]), "a head turned 34 degrees hides part of its far side"
