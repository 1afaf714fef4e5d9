"""The installed environment is the one the README promises."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata

import pytest


def test_exactly_one_opencv_and_it_is_headless():
    dists = {d.metadata["Name"].lower() for d in metadata.distributions() if "opencv" in d.metadata["Name"].lower()}
    assert len(dists) == 1 and "headless" in next(iter(dists)), dists


def test_blazepose_full_model_is_bundled_offline():
    import mediapipe

    root = os.path.dirname(mediapipe.__file__)
    assert os.path.isfile(os.path.join(root, "modules/pose_landmark/pose_landmark_full.tflite"))
    assert os.path.isfile(os.path.join(root, "modules/pose_detection/pose_detection.tflite"))


@pytest.mark.slow
def test_sample_video_is_fetched_from_pypi_when_shared_is_absent(tmp_path):
    """A fresh machine without ../shared gets the sample from the sports2d wheel (PyPI)."""
    env = {**os.environ, "SPORTLENS_SHARED": str(tmp_path / "none"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    code = ("import sportlens.samples as s; s.shared_dir = lambda: None; print(s.sample_video())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    if done.returncode != 0 and os.environ.get("CI") != "true":
        pytest.skip(f"PyPI not reachable here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr
    path = done.stdout.strip()
    assert path.startswith(str(tmp_path / "cache")) and os.path.getsize(path) > 1_000_000
    from sportlens.video import probe

    info = probe(path)
    assert (info.width, info.height) == (1768, 994)
