"""Several-people pipeline on generated video (fast): nobody in the picture, bad --person values."""
from __future__ import annotations

import numpy as np
import pytest
from _media import make_video

from sportlens.api import analyze_video, track_video
from sportlens.config import AnalyzeSettings, PeopleSettings
from sportlens.errors import InputError


@pytest.fixture(scope="module")
def empty_video(tmp_path_factory):
    frames = [np.full((96, 128, 3), 40 + i, np.uint8) for i in range(15)]  # nobody, 0.5 s
    return make_video(tmp_path_factory.mktemp("people") / "empty.mp4", frames)


def settings(person: str) -> AnalyzeSettings:
    return AnalyzeSettings(people=PeopleSettings(person=person))


def test_auto_with_nobody_reports_no_person(empty_video, tmp_path):
    a = analyze_video(empty_video, tmp_path / "out", settings("auto"))
    assert a.people["num_tracks"] == 0 and a.people["selected"] == []
    assert "no person was tracked" in a.people["reason"]
    assert not np.isfinite(a.raw.keypoints).any() and a.raw.num_frames == 15
    html = (tmp_path / "out" / "report.html").read_text()
    assert "No person was detected" in html and "People in the video" in html


def test_unknown_id_lists_the_tracked_ones_and_writes_nothing(empty_video, tmp_path):
    with pytest.raises(InputError, match="available IDs: none"):
        analyze_video(empty_video, tmp_path / "bad", settings("3"))
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_tracks_on_an_empty_video_writes_an_empty_sheet(empty_video, tmp_path):
    people = track_video(empty_video, tmp_path / "t", settings("auto"))
    assert people.tracking.num_tracks == 0
    assert {p.name for p in (tmp_path / "t").iterdir()} == {"tracks.mp4", "contact_sheet.png", "tracks.json"}
