"""The parallel pose runner: chunks cover every frame exactly once, in order, whatever the split."""
from __future__ import annotations

import numpy as np
import pytest
from _media import gradient_frames, make_video

from sportlens.config import PoseSettings, from_overrides
from sportlens.pose import PoseEstimator, create_estimator, list_backends, register_backend
from sportlens.pose.runner import estimate_video
from sportlens.video import VideoReader, probe
from sportlens.video.chunks import chunk_ranges, plan_chunks


@register_backend("brightest")
class BrightestPixel(PoseEstimator):
    """Test backend: 'joint' 0 = the brightest pixel (the moving square of gradient_frames)."""

    skeleton = "penn13"

    def __init__(self, **_):
        pass

    def estimate(self, image):
        kp = np.full((13, 2), np.nan)
        y, x = np.unravel_index(np.argmax(image[..., 0]), image.shape[:2])
        kp[0] = (x, y)
        return kp, (np.isfinite(kp[:, 0])).astype(float)


def test_plan_chunks_contiguous():
    chunks = plan_chunks(0.0, 10.0, workers=2, chunk_seconds=3.0)
    assert chunks[0][0] == 0.0 and chunks[-1][1] == 10.0 and len(chunks) == 4
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    assert plan_chunks(0.0, 1.5, workers=2, chunk_seconds=20) == [(0.0, 1.5)]  # too short to split


def test_chunk_ranges_last_chunk_reads_to_the_real_end(tmp_path):
    info = probe(make_video(tmp_path / "v.mp4", gradient_frames(90), fps=30))
    chunks = chunk_ranges(info, None, None, workers=2, chunk_seconds=20)
    assert len(chunks) == 2 and chunks[-1][1] is None


@pytest.mark.parametrize("workers, chunk_seconds", [(1, 20.0), (2, 20.0), (2, 1.0), (3, 0.7)])
def test_runner_matches_sequential_reading(tmp_path, workers, chunk_seconds):
    path = make_video(tmp_path / "v.mp4", gradient_frames(150, 96, 64), fps=30)
    settings = from_overrides(PoseSettings(), {"backend": "brightest", "workers": workers,
                                               "chunk_seconds": chunk_seconds, "max_side": 0})
    track, warnings = estimate_video(path, settings)
    seq = list(VideoReader(path))
    assert warnings == []
    assert track.num_frames == len(seq) == 150
    assert np.allclose(track.times, [f.time for f in seq])
    assert (np.diff(track.times) > 0).all()
    expected_x = [np.unravel_index(np.argmax(f.image[..., 0]), f.image.shape[:2])[1] for f in seq]
    assert np.allclose(track.keypoints[:, 0, 0], expected_x)


def test_runner_trims_and_scales_back_to_original_pixels(tmp_path):
    path = make_video(tmp_path / "v.mp4", gradient_frames(60, 128, 96), fps=30)
    settings = PoseSettings(backend="brightest", max_side=64)  # pose runs on 64x48 frames
    track, _ = estimate_video(path, settings, start=0.5, end=1.5)
    assert track.num_frames == 30 and track.times[0] == pytest.approx(0.5, abs=1e-3)
    full, _ = estimate_video(path, PoseSettings(backend="brightest", max_side=0), start=0.5, end=1.5)
    assert np.nanmax(np.abs(track.keypoints[:, 0] - full.keypoints[:, 0])) <= 4  # same pixels, +- 2 scaled px


def test_registry():
    assert {"blazepose", "brightest"} <= set(list_backends())
    with pytest.raises(ValueError, match="unknown pose backend"):
        create_estimator("nope")


def test_settings_overrides():
    s = from_overrides(PoseSettings(), {"workers": 4})
    assert s.workers == 4 and s.max_side == PoseSettings().max_side
    with pytest.raises(KeyError, match="unknown setting"):
        from_overrides(PoseSettings(), {"wrokers": 4})
