"""The exercise-correction MediaPipe loader, its recording segments and the by-segment evaluation (issue 7)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sportlens.assess.loso import evaluate_form_frames
from sportlens.assess.quality import QualitySettings
from sportlens.data.exercise_correction import FILES, FORM_TASKS, frame_features, load_task, segment_rows
from sportlens.errors import InputError

from conftest import shared_path

JOINTS = ("nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip")


def _write_plank(root, blocks=12, rows=10, seed=0):
    """Blocks of frames, each one label and one body position; high hips (H) lift the hips by 0.1."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(blocks):
        label = "CHL"[b % 3]
        base = {"nose": (0.2, 0.5), "left_shoulder": (0.3, 0.5), "right_shoulder": (0.3, 0.52),
                "left_hip": (0.6, 0.5 - (0.1 if label == "H" else -0.1 if label == "L" else 0)),
                "right_hip": (0.6, 0.52 - (0.1 if label == "H" else -0.1 if label == "L" else 0))}
        shift = 0.2 * b  # every block stands elsewhere: a new recording
        for _ in range(rows):
            row = {"label": label}
            for j in JOINTS:
                x, y = base[j]
                row.update({f"{j}_x": x + shift + rng.normal(0, 0.002), f"{j}_y": y + rng.normal(0, 0.002),
                            f"{j}_z": 0.0, f"{j}_v": 1.0})
            out.append(row)
    pd.DataFrame(out).to_csv(root / FILES["plank"][0], index=False)
    return root


def test_segment_rows_exact():
    xy = np.array([[0.0, 0.0], [0.01, 0.0], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    labels = np.array(["C", "C", "C", "C", "L"])
    assert segment_rows(xy, labels).tolist() == [0, 0, 1, 1, 2]
    assert segment_rows(np.zeros((0, 2)), np.array([])).tolist() == []


def test_load_and_features_and_split_by_segment(tmp_path):
    frames = load_task(_write_plank(tmp_path), "plank")
    assert frames.joints == JOINTS and frames.landmarks.shape == (120, 5, 4)
    assert frames.counts == {"C": 40, "H": 40, "L": 40}
    assert frames.segments.max() + 1 == 12
    x = frame_features(frames)
    assert x.shape == (120, 5 * 3 + 1)
    hip = frames.joints.index("left_hip")
    assert np.allclose(x[:, hip * 3:hip * 3 + 2].mean(0), [0, -0.01 / 0.3], atol=0.02)  # mid-hip origin
    res = evaluate_form_frames(frames, QualitySettings(n_trees=30), n_splits=5)  # 5 folds mix the labels
    assert res["segments"] == 12 and res["frames"] == 120 and res["accuracy"] >= 0.9
    assert np.sum(res["confusion"]) == 120


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="missing"):
        load_task(tmp_path, "plank")
    with pytest.raises(InputError, match="unknown exercise-correction task"):
        load_task(tmp_path, "yoga")
    _write_plank(tmp_path)
    df = pd.read_csv(tmp_path / FILES["plank"][0])
    df.loc[3, "label"] = "X"
    df.to_csv(tmp_path / FILES["plank"][0], index=False)
    with pytest.raises(InputError, match="unknown label"):
        load_task(tmp_path, "plank")
    df.loc[3, "label"] = "C"
    df = df.drop(columns=["nose_v"])
    df.to_csv(tmp_path / FILES["plank"][0], index=False)
    with pytest.raises(InputError, match="columns"):
        load_task(tmp_path, "plank")


@pytest.mark.slow
def test_real_exercise_correction_counts():
    root = shared_path("data/exercise_correction_mediapipe")
    counts = {t: load_task(root, t).counts for t in FILES}
    assert counts["bicep"] == {"C": 339, "L": 265}
    assert counts["plank"] == {"C": 234, "H": 241, "L": 235}
    assert counts["lunge_err"] == {"C": 546, "L": 561}
    assert counts["squat_stage_train"] == {"down": 2127, "up": 2033}
    frames = load_task(root, "plank")
    assert frames.landmarks.shape[1] == 17 and 10 <= frames.segments.max() + 1 <= 60
    res = evaluate_form_frames(load_task(root, "lunge_err"), QualitySettings(n_trees=50))
    assert res["balanced_accuracy"] > 0.9
    assert set(FORM_TASKS) <= set(FILES)
