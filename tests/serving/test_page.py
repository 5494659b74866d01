"""The upload page in headless Chromium: a person picks a real face photo and sees 68 points
and the pose drawn on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cdp import Browser, find_chromium

# Every landmark's centre pixel on the canvas must have a dot colour (visible or hidden).
COUNT_DOTS = """(() => {
  const canvas = document.getElementById('canvas'), ctx = canvas.getContext('2d');
  const faces = JSON.parse(document.getElementById('result').textContent).faces;
  let dots = 0;
  for (const [x, y] of faces[0].landmarks) {
    if (x < 0 || y < 0 || x >= canvas.width || y >= canvas.height) continue;
    const [r, g, b] = ctx.getImageData(Math.round(x), Math.round(y), 1, 1).data;
    if ((r < 40 && g > 200 && b > 90 && b < 140) || (r > 230 && g < 40 && b > 50 && b < 90)) dots += 1;
  }
  return {drawn: Number(canvas.dataset.points), dots, inside: faces[0].landmarks.filter(
    ([x, y]) => x >= 0 && y >= 0 && x < canvas.width && y < canvas.height).length,
    status: document.getElementById('status').textContent, pose: document.getElementById('pose').textContent};
})()"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("headless Chromium not installed (Debian package `chromium`; .ci/run installs it)")
    return path


def test_uploading_a_real_face_draws_68_landmarks_and_the_pose(chromium: str, served: dict, shared_dir: Path,
                                                               tmp_path: Path) -> None:
    photo = shared_dir / "real" / "aflw2000_dev" / "image00050.jpg"
    with Browser(chromium, tmp_path / "profile") as browser:
        page = browser.open_page(served["base"] + "/")
        browser.set_file(page, "#file", photo)
        state = browser.wait_for(page, "['done', 'error'].includes(document.body.dataset.state) && "
                                       "document.body.dataset.state", timeout_s=60)
        result = browser.evaluate(page, COUNT_DOTS)
    assert state == "done", result["status"]
    assert result["drawn"] == 68 and "68 points" in result["status"]
    assert result["dots"] == result["inside"] >= 60
    assert "yaw" in result["pose"] and "roll" in result["pose"]
