"""VideoReader/VideoWriter on videos the tests make: timestamps, rotation, trimming, writing."""
from __future__ import annotations

import numpy as np
import pytest
from _media import gradient_frames, make_video

from sportlens.errors import InputError
from sportlens.video import VideoReader, VideoWriter, probe, scaled_size


def test_variable_frame_rate_times_are_real(tmp_path):
    times = [0.0, 0.03, 0.1, 0.12, 0.2, 0.5, 0.52]
    path = make_video(tmp_path / "vfr.mp4", gradient_frames(len(times)), times=times)
    got = [f.time for f in VideoReader(path)]
    assert got == pytest.approx(times, abs=1e-3)


def test_start_end_trim_by_time(tmp_path):
    path = make_video(tmp_path / "v.mp4", gradient_frames(60), fps=30)
    frames = list(VideoReader(path, start=0.5, end=1.0))
    assert [f.index for f in frames] == list(range(15))
    assert frames[0].time == pytest.approx(0.5, abs=1e-3)
    assert frames[-1].time == pytest.approx(1.0 - 1 / 30, abs=1e-3)


def test_rotation_metadata_is_applied(tmp_path):
    img = np.zeros((48, 64, 3), np.uint8)
    img[:8, :8] = 255  # marker top-left of the stored (landscape) frame
    path = make_video(tmp_path / "rot.mp4", [img] * 3, fps=10, rotation_ccw=-90)  # phone: display turned 90 cw
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (48, 64, 90)
    frame = next(iter(VideoReader(path)))
    assert frame.image.shape == (64, 48, 3)
    ys, xs = np.nonzero(frame.image[..., 0] > 128)
    assert ys.mean() < 10 and xs.mean() > 38  # turned clockwise: top-left -> top-right


def test_scaled_output_keeps_aspect_and_even_size(tmp_path):
    assert scaled_size(1768, 994, 960) == (960, 540)
    assert scaled_size(63, 47, None) == (64, 48)  # even for yuv420p
    path = make_video(tmp_path / "v.mp4", gradient_frames(3, 64, 48))
    frame = next(iter(VideoReader(path, max_side=32)))
    assert frame.image.shape == (24, 32, 3)


def test_reader_memory_is_streaming(tmp_path):
    path = make_video(tmp_path / "v.mp4", gradient_frames(40))
    it = iter(VideoReader(path))
    first = next(it)
    assert isinstance(first.image, np.ndarray) and first.index == 0  # a generator, not a list


def test_writer_roundtrip_is_atomic(tmp_path):
    out = tmp_path / "o.mp4"
    with VideoWriter(out, 64, 48, 25) as w:
        for img in gradient_frames(10):
            w.write(img)
        assert not out.exists()  # only the temporary file exists while writing
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (64, 48, 10)
    assert info.codec == "h264"


def test_writer_abort_leaves_nothing(tmp_path):
    out = tmp_path / "o.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 64, 48, 25) as w:
            w.write(gradient_frames(1)[0])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_start_past_end_is_a_clear_error(tmp_path):
    path = make_video(tmp_path / "v.mp4", gradient_frames(10))
    with pytest.raises(InputError, match="past the end"):
        VideoReader(path, start=100)
