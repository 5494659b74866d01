"""A server started on ``models:/face-alignment@champion`` follows the alias: a promotion is
picked up by polling or ``POST /v1/reload`` and swapped in while requests keep succeeding."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from server_proc import start_server, stop_server, write_params
from tiny_faces import NAME, encode, face_image, face_layout

from facealign.registry import alias as aliases


def _served_version(base: str) -> str:
    return httpx.get(f"{base}/v1/model", timeout=10).json()["version"]


def test_the_server_swaps_in_each_new_champion_without_failing_a_request(registry, tmp_path: Path) -> None:
    client, v = registry["client"], registry["versions"]
    aliases.move_alias(client, NAME, "champion", v["poor"], "test setup")
    params = write_params(tmp_path, registry["uri"], poll_interval_s=0.5)
    proc, base = start_server(params, f"models:/{NAME}@champion", tmp_path,
                              env={**os.environ, "MLFLOW_TRACKING_URI": registry["uri"]})
    lm = face_layout() * [0.4, -0.4] + 60.0
    upload = {"image": ("f.jpg", encode(face_image(lm)), "image/jpeg")}
    box = {"box": ",".join(f"{x:.1f}" for x in np.r_[lm.min(0), lm.max(0)])}
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=base, timeout=30) as c:
            while not stop.is_set():
                statuses.append(c.post("/v1/align", files=upload, data=box).status_code)

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    try:
        assert _served_version(base) == v["poor"]
        for w in workers:
            w.start()
        aliases.move_alias(client, NAME, "champion", v["fair"], "test: reload")
        reload = httpx.post(f"{base}/v1/reload", timeout=60).json()
        assert reload["model"]["version"] == v["fair"] and reload["last_reload_error"] is None
        aliases.move_alias(client, NAME, "champion", v["good"], "test: polling")
        deadline = time.monotonic() + 30
        while _served_version(base) != v["good"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _served_version(base) == v["good"]
        time.sleep(0.5)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
        stop_server(proc)
    assert len(statuses) > 5 and set(statuses) == {200}
    info_tags = client.get_model_version(NAME, v["good"]).tags
    assert "test: polling" in info_tags[aliases.HISTORY_TAG]
