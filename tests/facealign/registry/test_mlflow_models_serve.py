"""The logged model also serves through MLflow's own scoring server (``mlflow models serve``)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from tiny_faces import NAME, encode, face_image, face_layout

from facealign.registry import alias as aliases
from serving.process import free_port


def test_mlflow_models_serve_answers_the_prediction_contract(registry, tmp_path: Path) -> None:
    aliases.move_alias(registry["client"], NAME, "champion", registry["versions"]["good"], "test setup")
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)  # uvicorn lives beside the interpreter (see README)
    env = {**os.environ, "MLFLOW_TRACKING_URI": registry["uri"], "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    log = open(tmp_path / "mlflow-serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m",
                             f"models:/{NAME}@champion", "--env-manager", "local", "-p", str(port)],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    lm = face_layout() * [0.4, -0.4] + 60.0
    box = ",".join(f"{x:.1f}" for x in np.r_[lm.min(0), lm.max(0)])
    body = {"dataframe_split": {"columns": ["image", "box"],
                                "data": [[base64.b64encode(encode(face_image(lm))).decode(), box]]}}
    try:
        deadline = time.monotonic() + 120
        answer = None
        while answer is None and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "mlflow-serve.log").read_text()[-2000:]
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=60)
            except httpx.TransportError:
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    assert answer is not None and answer.status_code == 200, answer and answer.text
    (prediction,) = answer.json()["predictions"]
    (face,) = prediction["faces"]
    assert len(face["landmarks"]) == 68 and len(face["visible"]) == 68
    assert set(face["pose"]) == {"yaw", "pitch", "roll"}
    err = np.linalg.norm(np.asarray(face["landmarks"]) - lm, axis=1).mean()
    assert err < 0.1 * np.ptp(lm, axis=0).max()  # the good aligner lands on the drawn face
