"""Torch sequence quality models (issue 7, ``--model tcn``): dataset, engine training, regression task,
model files through ``apply_quality_model``, LOSO honesty, CLI. Small generated data: seconds, not minutes."""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from sportlens.assess import quality_seq
from sportlens.assess.quality import (
    QualitySettings, apply_quality_model, load_quality_model, make_estimator, save_quality_model, train_quality_model,
)
from sportlens.assess.quality_seq import (
    QualitySequenceDataset, SequenceEstimator, SequenceSettings, _validation_split, evaluate_loso_seq,
    sequence_tensor, train_sequence_estimator, train_sequence_quality_model,
)
from sportlens.cli import app
from sportlens.data.ui_prmd import KINECT22_JOINTS, KINECT22_PARENTS, QualitySample
from sportlens.engine.tasks import RegressionTask
from sportlens.errors import InputError
from sportlens.skeletons import get_skeleton
from sportlens.types import PoseTrack

from test_quality import _dataset, _rep, _write_folder  # the generated squats of the tree-model tests

importlib.import_module("sportlens.cli.quality")  # registers eval quality / train-quality

FAST = SequenceSettings(epochs=15, width=32)
TCN = QualitySettings(model="tcn", n_trees=20)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _body_frame_rep(frames: int = 11, fps: float = 10.0) -> QualitySample:
    """Kinect-22 already in the body frame (waist at 0, chest 1 above, hip line along +x: nothing is moved,
    turned or scaled); the left hand moves +x linearly, one angle channel rises linearly 0 -> 90 deg."""
    t = np.linspace(0.0, 1.0, frames)
    p = np.zeros((frames, 22, 3))
    p[:, 2] = [0, 1, 0]
    p[:, 14], p[:, 18] = [-0.5, 0, 0], [0.5, 0, 0]
    p[:, 9] = np.column_stack([0.2 + t, np.full(frames, 0.5), np.zeros(frames)])
    ang = np.zeros((frames, 22, 3))
    ang[:, 15, 0] = 10 + 90 * t
    return QualitySample(1, 1, 1, True, p, ang, fps=fps)


# ----------------------------------------------------------------------------- dataset
def test_sequence_tensor_exact_resampling_channels_and_duration():
    s = _body_frame_rep(frames=11, fps=10.0)
    x = sequence_tensor(s, QualitySettings(start_frames=1, canonical_side=False), SequenceSettings(frames=5))  # as recorded
    assert x.shape == (5, 22, 3 + 3 + 3 + 1) and x.dtype == np.float32
    step = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert np.allclose(x[:, 9, 0], step, atol=1e-6)  # hand x from its start, at the resampled times
    assert np.allclose(x[:, 9, 1:3], 0) and np.allclose(x[:, 0, :3], 0)  # nothing else moves
    vel = 0.25 * 4 / 1.1  # resampled step x (frames - 1) / duration: torso lengths per second
    assert np.allclose(x[1:, 9, 3], vel, atol=1e-5) and np.allclose(x[0, :, 3:6], 0)
    assert np.allclose(x[:, 15, 6], step, atol=1e-6)  # (angle - start) / 90 deg
    assert np.allclose(x[..., 9], 1.1)  # duration channel: 11 frames at 10 fps
    # positions only (no angles, no velocities), 2-D penn13: C = 2 + 1
    sk = get_skeleton("penn13")
    q = np.zeros((8, sk.num_joints, 2))
    q[:, sk.index("left_hip")], q[:, sk.index("right_hip")] = [-1, 0], [1, 0]
    q[:, sk.index("left_shoulder")], q[:, sk.index("right_shoulder")] = [-1, -2], [1, -2]
    two_d = QualitySample("squat", "p", 0, True, q, None, skeleton="penn13")
    assert sequence_tensor(two_d, seq=SequenceSettings(frames=6, velocities=False)).shape == (6, 13, 3)
    assert sequence_tensor(two_d).shape == (32, 13, 5)


def test_sequence_tensor_uses_the_trees_body_frame():
    """Moving, turning and scaling the whole subject changes nothing but the duration-free channels' units."""
    s = _rep(1, True, np.random.default_rng(0), frames=20)
    x = sequence_tensor(s)
    a = np.deg2rad(30)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    moved = QualitySample(1, 1, 0, True, (s.positions @ rot.T) * 1.4 + [30, 2, -10], s.angles)
    assert np.allclose(sequence_tensor(moved), x, atol=1e-3)


def test_dataset_items_and_validation_split_by_subject():
    samples = _dataset(subjects=(1, 2, 3, 4), per_class=2)
    data = QualitySequenceDataset(samples, seq=SequenceSettings(frames=8))
    assert len(data) == 16 and data.shape == (8, 22, 10)
    item = data[3]
    assert item["x"].shape == (8, 22, 10) and item["label"].dtype == torch.int64 and item["label"] == samples[3].label
    reg = QualitySequenceDataset(samples, seq=SequenceSettings(frames=8), targets=np.arange(16.0))
    assert reg[5]["target"].dtype == torch.float32 and float(reg[5]["target"]) == 5.0
    tr, va = _validation_split(samples, SequenceSettings(val_subjects=2))
    subj = np.array([s.subject for s in samples])
    assert len(set(subj[va])) == 2 and not set(subj[tr]) & set(subj[va]) and len(tr) + len(va) == 16


# ----------------------------------------------------------------------------- engine
def test_regression_task_exact():
    task = RegressionTask()
    out = torch.tensor([[1.0], [3.0]])
    batch = {"target": torch.tensor([0.0, 1.0])}
    assert task.loss(out, batch).item() == pytest.approx((1 + 4) / 2)
    assert torch.equal(task.predict(out), torch.tensor([1.0, 3.0]))
    assert task.correct(out, batch) is None and task.monitor == "loss" and task.monitor_mode == "min"
    m = task.summarize(np.array([1.0, 3.0]), np.array([0.0, 1.0]))
    assert m["rmse"] == pytest.approx(np.sqrt(2.5)) and m["mae"] == pytest.approx(1.5)
    assert RegressionTask("huber").loss(out, batch).item() == pytest.approx((0.5 + 1.5) / 2)
    with pytest.raises(ValueError):
        RegressionTask("l3")


def test_tcn_learns_correct_vs_incorrect_through_the_engine():
    samples = _dataset(subjects=(1, 2, 3, 4), per_class=5)
    est = train_sequence_estimator(samples, seq=FAST)
    assert est.model_kwargs["skeleton"] == "kinect22" and est.model_kwargs["num_classes"] == 2
    assert len(est.history) == FAST.epochs and 1 <= est.best_epoch <= FAST.epochs
    assert est.history[-1]["train_loss"] < est.history[0]["train_loss"]
    rng = np.random.default_rng(11)
    good = est.predict_samples([_rep(7, True, rng) for _ in range(6)])
    bad = est.predict_samples([_rep(7, False, rng) for _ in range(6)])
    assert good.mean() > 0.5 > bad.mean() and ((good > 0.5).mean() + (bad < 0.5).mean()) / 2 >= 0.8


def test_regression_model_ranks_scores():
    samples = _dataset(subjects=(1, 2, 3, 4), per_class=4)
    for s in samples:
        s.score = 8.0 if s.correct else 3.0
    model = train_sequence_quality_model(samples, TCN, FAST)
    assert model.task == "regression"
    est = model.movements["1"]["estimator"]
    assert est.regression and est.model_kwargs["num_classes"] == 1 and est.target_mean == pytest.approx(5.5)
    rng = np.random.default_rng(5)
    hi = np.mean([apply_quality_model(model, _rep(6, True, rng)).score for _ in range(4)])
    lo = np.mean([apply_quality_model(model, _rep(6, False, rng)).score for _ in range(4)])
    assert hi > lo and 0 < lo < hi < 12


def test_save_load_apply_round_trip(tmp_path):
    samples = _dataset(subjects=(1, 2, 3, 4), per_class=5)
    model = train_quality_model(samples, TCN)  # dispatches to quality_seq (default sequence settings)
    assert isinstance(model.movements["1"]["estimator"], SequenceEstimator)
    path = save_quality_model(model, tmp_path / "tcn.pkl")
    loaded = load_quality_model(path)
    assert loaded.settings.model == "tcn" and loaded.task == "classification"
    est = loaded.movements["1"]["estimator"]
    assert isinstance(est.seq, SequenceSettings) and all(isinstance(v, np.ndarray) for v in est.state.values())
    rng = np.random.default_rng(9)
    rep = _rep(6, False, rng)
    res = apply_quality_model(path, rep)
    same = model.movements["1"]["estimator"].predict_samples([rep])[0]
    assert res.score == pytest.approx(100 * same, abs=1e-4) and res.task == "classification"
    assert res.deviations and json.dumps(res.to_dict())  # deviations still from the summary features
    assert apply_quality_model(path, _rep(6, True, rng)).score > res.score


def test_pooled_network_for_all_movements_takes_the_movement_as_input(tmp_path):
    samples = _dataset(subjects=(1, 2, 3, 4), per_class=4, movements=(1, 2))
    model = train_sequence_quality_model(samples, TCN, SequenceSettings(epochs=15, width=32, pooled=True))
    one, two = model.movements["1"]["estimator"], model.movements["2"]["estimator"]
    assert one is two and one.movements == ("1", "2") and one.model_kwargs["in_channels"] == 10 + 2
    loaded = load_quality_model(save_quality_model(model, tmp_path / "pooled.pkl"))
    est = loaded.movements["2"]["estimator"]
    assert est is loaded.movements["1"]["estimator"]  # pickled once
    rep = _rep(6, True, np.random.default_rng(4))  # movement 1 as generated; scored as movement 2 below
    x1 = QualitySequenceDataset([rep], TCN, est.seq, movements=est.movements).x[0]
    assert torch.equal(x1[..., -2:], torch.tensor([1.0, 0.0]).expand(x1.shape[0], x1.shape[1], 2))
    as_two = apply_quality_model(loaded, rep, 2).score
    assert as_two == pytest.approx(100 * est.predict_samples([rep], 2)[0], abs=1e-4)
    with pytest.raises(InputError, match="no movement"):
        est.predict_samples([rep], 3)


def test_tree_estimator_factory_refuses_tcn_and_loso_never_sees_the_held_out_subject(monkeypatch):
    with pytest.raises(ValueError, match="sequences"):
        make_estimator(TCN)
    samples = _dataset(subjects=(1, 2, 3), per_class=2)
    seen = []

    class Fake:
        def predict_samples(self, group):
            return np.array([0.9 if s.correct else 0.1 for s in group])

    def fake_train(train, regression, settings, seq):
        seen.append({s.subject for s in train})
        return Fake()

    monkeypatch.setattr(quality_seq, "train_sequence_estimator", fake_train)
    res = evaluate_loso_seq(samples, TCN, FAST)
    assert seen == [{2, 3}, {1, 3}, {1, 2}] and res.mean_accuracy == 1.0 and res.per_movement[1]["n"] == 12


def test_kinect22_is_a_registered_layout():
    sk = get_skeleton("kinect22")
    assert sk.joints == KINECT22_JOINTS
    assert ({tuple(sorted(e)) for e in sk.edge_index.tolist()}
            == {tuple(sorted((p, j))) for j, p in enumerate(KINECT22_PARENTS) if p >= 0})


# ----------------------------------------------------------------------------- CLI
def test_cli_train_quality_tcn_end_to_end(tmp_path):
    folder = _write_folder(tmp_path)  # penn13 2-D squats, 3 subjects x 4 x (correct, incorrect)
    runner = CliRunner()
    out = tmp_path / "tcn.pkl"
    r = runner.invoke(app, ["train-quality", "--model", "tcn", "--epochs", "12", "--dataset", "folder", "--data",
                            str(folder), "--out", str(out), "--trees", "20"])
    assert r.exit_code == 0, r.output
    model = load_quality_model(out)
    assert model.settings.model == "tcn" and model.movements["squat"]["n_train"] == 24
    assert model.movements["squat"]["estimator"].model_kwargs["skeleton"] == "penn13"
    clip = np.load(folder / "s1_0_0.npz")  # an incorrect clip, scored from a PoseTrack as analyze does
    track = PoseTrack(clip["keypoints"], np.ones(clip["keypoints"].shape[:2]), clip["times"], "penn13")
    bad = apply_quality_model(out, track).score
    clip = np.load(folder / "s1_0_1.npz")
    good = apply_quality_model(out, PoseTrack(clip["keypoints"], np.ones(clip["keypoints"].shape[:2]),
                                              clip["times"], "penn13")).score
    assert good > bad
    r = runner.invoke(app, ["eval", "quality", "--model", "tcn", "--epochs", "8", "--dataset", "folder", "--data",
                            str(folder), "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["model"] == "tcn" and set(res["learned"]["per_movement"]) == {"squat"}
    r = runner.invoke(app, ["train-quality", "--model", "tcn", "--pooled", "--epochs", "3", "--dataset", "folder",
                            "--data", str(folder), "--out", str(tmp_path / "pooled.pkl"), "--trees", "20"])
    assert r.exit_code == 0, r.output
    assert load_quality_model(tmp_path / "pooled.pkl").movements["squat"]["estimator"].movements == ("squat",)
    r = runner.invoke(app, ["train-quality", "--model", "tcn", "--epochs", "0", "--dataset", "folder", "--data",
                            str(folder), "--out", str(out)])
    assert r.exit_code == 2 and "--epochs" in r.output
