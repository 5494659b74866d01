"""Real AFLW2000-3D faces through HTTP: the served landmarks are exactly the aligner's, in
original-image pixels, for the ground-truth boxes of the benchmark protocol."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np


def test_served_landmarks_equal_the_aligners_on_real_photos(client: httpx.Client, shared_dir: Path) -> None:
    from facealign.data.readers import load_image
    from facealign.evaluation import load_benchmark
    from facealign.registry.loading import load_aligner

    bench = load_benchmark(shared_dir / "real" / "aflw2000_dev")
    aligner = load_aligner(client.get("/v1/model").json()["spec"])
    for record, box in zip(bench.records, bench.boxes, strict=True):
        upload = (record.image_path.name, record.image_path.read_bytes(), "image/jpeg")
        r = client.post("/v1/align", files={"image": upload}, data={"box": ",".join(f"{v:.4f}" for v in box)})
        assert r.status_code == 200, r.text
        served = np.array(r.json()["faces"][0]["landmarks"])
        direct = aligner.align([load_image(record.image_path)], box[None])[0].landmarks
        assert np.abs(served - direct).max() < 0.02  # JSON rounds to 0.01 px
