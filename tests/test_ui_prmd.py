"""UI-PRMD loader, forward kinematics and the leave-one-subject-out protocol (issue 7)."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from sportlens.assess.loso import (
    angle_features, binary_metrics, evaluate_loso, loso_splits, resample,
)
from sportlens.data.ui_prmd import (
    CORRECT_DIR, INCORRECT_DIR, KINECT22_PARENTS, QualitySample, bone_lengths, euler_to_matrix,
    forward_kinematics, load_ui_prmd,
)
from sportlens.errors import InputError

from conftest import shared_path


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        np.savetxt(fh, arr.reshape(len(arr), -1), delimiter=",", fmt="%.6f")


def _make_tree(root: Path, movements=(1, 2), subjects=(1, 2, 3), episodes=(1, 2), frames=5) -> Path:
    rng = np.random.default_rng(0)
    for top, suffix in ((CORRECT_DIR, ""), (INCORRECT_DIR, "_inc")):
        for m in movements:
            for s in subjects:
                for e in episodes:
                    rel = np.zeros((frames, 22, 3))
                    rel[:, 0] = [0.0, 85.0, -235.0]
                    rel[:, 1:, 1] = 10.0  # every bone 10 cm along the parent's local y
                    ang = rng.normal(0, 5, (frames, 22, 3)) + (0.0 if suffix else 20.0)
                    name = f"m{m:02d}_s{s:02d}_e{e:02d}"
                    _write(root / top / "Kinect" / "Positions" / f"{name}_positions{suffix}.txt.gz", rel)
                    _write(root / top / "Kinect" / "Angles" / f"{name}_angles{suffix}.txt.gz", ang)
    return root


def test_loader_reads_fixture_tree(tmp_path):
    root = _make_tree(tmp_path / "ui_prmd" / "data")
    samples, report = load_ui_prmd(tmp_path / "ui_prmd")  # the dataset's top folder is accepted too
    assert len(samples) == report.samples == 2 * 3 * 2 * 2
    assert report.per_label == {"correct": 12, "incorrect": 12}
    assert report.per_movement == {1: {"correct": 6, "incorrect": 6}, 2: {"correct": 6, "incorrect": 6}}
    assert set(report.per_subject) == {1, 2, 3} and report.frames_min == report.frames_max == 5
    s = samples[0]
    assert isinstance(s, QualitySample) and s.positions.shape == (5, 22, 3) and s.angles.shape == (5, 22, 3)
    assert (s.movement, s.subject, s.episode, s.correct) == (1, 1, 1, True)
    assert np.allclose(s.positions[:, 0], [0, 85, -235])
    assert np.allclose(bone_lengths(s.positions)[:, 1:], 10.0, atol=1e-3)  # rebuilt, lengths kept
    only2, rep2 = load_ui_prmd(root, movements=(2,))
    assert {x.movement for x in only2} == {2} and rep2.samples == 12
    rel, _ = load_ui_prmd(root, absolute=False)
    assert np.allclose(rel[0].positions[:, 1:, 1], 10.0)
    assert "24 repetitions" in str(report)


def test_loader_errors(tmp_path):
    with pytest.raises(InputError, match="Segmented Movements"):
        load_ui_prmd(tmp_path)
    root = _make_tree(tmp_path / "d", movements=(1,), subjects=(1,), episodes=(1,))
    bad = root / CORRECT_DIR / "Kinect" / "Angles" / "m01_s01_e01_angles.txt.gz"
    _write(bad, np.zeros((5, 21, 3)))
    with pytest.raises(InputError, match="m01_s01_e01_angles"):
        load_ui_prmd(root)
    bad.write_bytes(b"not gzip")
    with pytest.raises(InputError, match="m01_s01_e01_angles"):
        load_ui_prmd(root)
    _write(bad, np.zeros((7, 22, 3)))
    with pytest.raises(InputError, match="same length"):
        load_ui_prmd(root)
    _write(bad, np.zeros((5, 22, 3)))
    (root / INCORRECT_DIR / "Kinect" / "Angles" / "m01_s01_e01_angles_inc.txt.gz").unlink()
    samples, report = load_ui_prmd(root)
    assert len(samples) == 1 and len(report.unpaired) == 1
    import shutil

    shutil.rmtree(root / INCORRECT_DIR / "Kinect" / "Angles")
    with pytest.raises(InputError, match="missing"):
        load_ui_prmd(root)


def test_euler_convention_is_rz_rx_ry():
    from scipy.spatial.transform import Rotation

    a = np.array([[10.0, 20.0, 30.0], [-40.0, 5.0, 70.0]])
    want = Rotation.from_euler("ZXY", a[:, [2, 0, 1]], degrees=True).as_matrix()
    assert np.allclose(euler_to_matrix(a), want)


def test_forward_kinematics_exact_chain():
    parents = (-1, 0, 1)
    rel = np.array([[[1.0, 2.0, 3.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    ang = np.zeros((1, 3, 3))
    ang[0, 0, 2] = 90.0  # root turned 90 deg about z
    ang[0, 1, 0] = 90.0  # joint 1 turned 90 deg about its x
    out = forward_kinematics(rel, ang, parents)
    assert np.allclose(out[0], [[1, 2, 3], [1, 3, 3], [1, 3, 4]], atol=1e-9)
    # no rotation: offsets just add up
    assert np.allclose(forward_kinematics(rel, np.zeros_like(ang), parents)[0], [[1, 2, 3], [2, 2, 3], [2, 3, 3]])
    assert np.allclose(bone_lengths(out, parents)[0], [0, 1, 1])
    assert len(KINECT22_PARENTS) == 22 and all(p < j for j, p in enumerate(KINECT22_PARENTS))


def test_loso_splits_never_share_subject():
    subjects = [1, 1, 2, 3, 3, 3, 2, 4]
    splits = loso_splits(subjects)
    assert [s for s, _, _ in splits] == [1, 2, 3, 4]
    subj = np.array(subjects)
    for s, tr, te in splits:
        assert set(subj[te]) == {s} and s not in set(subj[tr])
        assert sorted(np.concatenate([tr, te])) == list(range(len(subjects)))


def test_metrics_on_hand_made_predictions():
    y = np.array([1, 1, 0, 0])
    acc, auc = binary_metrics(y, np.array([0.9, 0.4, 0.3, 0.6]))
    assert acc == 0.5 and auc == 0.75
    acc, auc = binary_metrics(y, np.array([0.9, 0.8, 0.1, 0.2]))
    assert acc == 1.0 and auc == 1.0
    assert np.isnan(binary_metrics(np.array([1, 1]), np.array([0.2, 0.9]))[1])


def test_resample_and_loso_end_to_end(tmp_path):
    seq = np.arange(5.0)[:, None] * np.ones((1, 2))
    assert np.allclose(resample(seq, 9)[:, 0], np.linspace(0, 4, 9))
    samples, _ = load_ui_prmd(_make_tree(tmp_path, frames=6))
    assert angle_features(samples[0], 8).shape == (8 * 66,)
    res = evaluate_loso(samples)  # the fixture's incorrect angles are offset by 20 deg: separable
    assert set(res.per_movement) == {1, 2}
    assert res.mean_accuracy == 1.0 and res.mean_auc == 1.0
    assert "mean" in res.table()


@pytest.mark.slow
def test_real_ui_prmd_counts_and_bones():
    root = shared_path("data/ui_prmd")
    samples, report = load_ui_prmd(root)
    assert report.per_label == {"correct": 1000, "incorrect": 1000}
    assert len(report.per_movement) == 10 and len(report.per_subject) == 10
    assert all(d == {"correct": 100, "incorrect": 100} for d in report.per_movement.values())
    assert not report.unpaired
    rel, _ = load_ui_prmd(root, movements=(1,), absolute=False)
    abs1 = [s for s in samples if s.movement == 1]
    cvs = []
    for a, r in zip(abs1, rel):
        lengths = bone_lengths(a.positions)
        # rotations keep lengths: bones after FK are exactly the stored offsets' norms
        assert np.allclose(lengths[:, 1:], np.linalg.norm(r.positions[:, 1:], axis=-1), atol=1e-3)
        cvs.append(lengths[:, 1:].std(0) / lengths[:, 1:].mean(0))
        # upright skeleton: head above chest above waist
        y = a.positions[..., 1]
        assert (y[:, 4] > y[:, 2]).all() and (y[:, 2] > y[:, 0]).all()
    # Kinect does not fix bone lengths; they stay near-constant (median variation ~3 %)
    assert np.median(cvs) < 0.06
    # deep squat: the ankles barely move once rebuilt (the chosen Euler convention; others give > 10 cm)
    ankle_std = np.median([np.linalg.norm(a.positions[:, [16, 20]].std(0), axis=-1).mean() for a in abs1])
    assert ankle_std < 6.0
