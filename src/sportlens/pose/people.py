"""Several people in the video: multi-person pose -> tracking -> athlete selection.

``estimate_athletes(video, PeopleSettings(person="auto"))`` runs the three steps that ``analyze
--person`` and ``sportlens tracks`` share:

1. ``multiperson.estimate_people_video``: BlazePose detector + landmarks for every person in each frame
   (a trained box detector may replace the bundled one: any object with ``detect(image) -> (boxes, scores)``);
2. ``tracking.track_people``: stable IDs (ByteTrack-style association, Kalman motion model, fragments
   joined where safe, people who vanished inside the picture re-identified); every track covers the
   whole time axis, NaN where the person is absent;
3. ``selection.select_athlete``: the person the user means (auto | largest | most-active | ID | all).

``PeopleResult.primary`` is the track the rest of the analysis uses: the selected person, or for
``all`` the auto choice (the others are summarised per person by the caller). With nobody tracked it is
an all-missing track over the video's frames, so the downstream steps report "no person" as they do for
the single-person pipeline.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sportlens.config import PeopleSettings
from sportlens.pose.multiperson import BoxDetector, estimate_people_video
from sportlens.pose.selection import Selection, select_athlete
from sportlens.pose.tracking import TrackingResult, track_people
from sportlens.types import PoseTrack, VideoInfo


@dataclass
class PeopleResult:
    tracking: TrackingResult
    selection: Selection
    primary: PoseTrack
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The ``people`` block of summary.json."""
        return {"mode": self.selection.mode, "selected": [int(t.person_id) for t in self.selection.tracks],
                "primary": int(self.primary.person_id), "reason": self.selection.reason,
                "num_tracks": self.tracking.num_tracks, "tracking": self.tracking.to_dict(),
                "per_person": {int(k): v for k, v in self.selection.scores.items()}}


def estimate_athletes(video: str | Path, settings: PeopleSettings, *, start: float | None = None,
                      end: float | None = None, progress: Callable[[int], None] | None = None,
                      info: VideoInfo | None = None, detector: BoxDetector | None = None) -> PeopleResult:
    """Multi-person pose, tracking and selection over [start, end) seconds (see the module doc)."""
    people = estimate_people_video(video, settings.multipose, start=start, end=end, progress=progress,
                                   info=info, detector=detector)
    tracking = track_people(people.people, people.times, people.frame_index, settings.tracker,
                            frame_size=people.frame_size)
    mode = settings.person.strip().lower()
    selection = select_athlete(tracking.tracks, mode)  # InputError for an unknown mode / ID, before any output
    chosen = select_athlete(tracking.tracks, "auto") if mode == "all" else selection
    primary = chosen.tracks[0] if chosen.tracks else _nobody(people.times, people.frame_index)
    return PeopleResult(tracking, selection, primary, list(people.warnings))


def _nobody(times: np.ndarray, frame_index: np.ndarray) -> PoseTrack:
    """An all-missing BlazePose track over the analysed frames."""
    T = len(times)
    return PoseTrack(keypoints=np.full((T, 33, 2), np.nan), scores=np.zeros((T, 33)), times=times,
                     skeleton="blazepose33", person_id=0, frame_index=frame_index)
