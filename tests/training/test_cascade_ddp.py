"""The cascade trains unchanged on two processes (DDP on CPU with gloo) via Lightning's settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NET = ("{feature_dim: 16, batch_norm: true, dropout: 0.0, pool_kernel: 2, pool_stride: 2, "
       "image_stream: [{type: conv, out: 4, kernel: 5, stride: 2, pool: true}, "
       "{type: local, out: 4, kernel: 3, pool: true}], "
       "pncc_stream: [{type: conv, out: 4, kernel: 5, stride: 2, pool: true}]}")


@pytest.mark.slow  # about 30 s: two processes each import torch and Lightning
def test_two_process_ddp_on_cpu_trains_every_stage(tmp_path, tiny_model_path, tiny_dataset):
    sets = {
        "paths.face_model": tiny_model_path, "paths.data": tiny_dataset, "cascade.stages": 2,
        "cascade.max_epochs": 1, "cascade.input_size": 32, "cascade.batch_size": 4,
        "cascade.num_workers": 0, "cascade.mlflow": "false", "cascade.loss_vertices": 10,
        "cascade.accelerator": "cpu", "cascade.devices": 2, "cascade.strategy": "ddp",
        "cascade.output": tmp_path / "cascade", "cascade.work_dir": tmp_path / "work", "cascade.net": NET,
    }
    cmd = [sys.executable, "-m", "commands.cli", "train-cascade", "--params", str(REPO / "params.yaml")]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={value}"]
    env = {**os.environ, "PL_DISABLE_FORK": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((tmp_path / "cascade" / "aligner.json").read_text())
    assert manifest["stages"] == 2 and len(manifest["val_nme_stages"]) == 3
    assert [info["world_size"] for info in manifest["stages_info"]] == [2, 2]
    assert done.stdout.count("stage 1: validation NME") == 1  # only rank 0 reports and writes
