"""Training, evaluation and sliding-window recognition end to end on generated skeleton data."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from _skeleton_data import make_clips, movement

from sportlens.config import RecognitionSettings
from sportlens.data import save_skeleton_dataset
from sportlens.recognize import UNKNOWN, Recognizer, _frame_labels, _per_frame, _segments
from sportlens.types import PoseTrack


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "sportlens", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small model trained with `sportlens train` on a generated two-movement folder dataset."""
    root = tmp_path_factory.mktemp("rec")
    data = save_skeleton_dataset(make_clips(24), root / "data")
    cfg = root / "exp.yaml"
    cfg.write_text("model: sportnet_pose\nmodel_kwargs.hidden: 64\ndata.dataset: folder\n"
                   f"data.root: {data}\ndata.batch_size: 8\ndata.val_fraction: 0.2\nfit.epochs: 12\n"
                   "fit.lr: 0.003\nfit.warmup_epochs: 0\n")
    done = cli("train", str(cfg), "--set", f"out_dir={root / 'runs'}", "--set", "name=run")
    assert done.returncode == 0, done.stderr
    return root / "runs" / "run", data


def test_train_writes_a_complete_run_folder(trained):
    run, _ = trained
    for name in ("config.yaml", "best.pt", "last.pt", "history.csv", "curves.png", "metrics.json",
                 "confusion_matrix.png", "confusion_matrix.csv", "data_report.txt"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["top1"] >= 0.9  # the two movements are easy to tell apart
    assert metrics["clips"]["test"] == 12


def test_eval_recognition_cli(trained):
    run, data = trained
    done = cli("eval", "recognition", "--dataset", "folder", "--data", str(data), "--checkpoint",
               str(run / "best.pt"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["top1"] >= 0.9 and set(report["per_class_accuracy"]) == {"raise", "squat"}
    assert report["params"] > 0 and report["flops"] > 0 and report["latency_ms"] > 0
    flip = cli("eval", "recognition", "--dataset", "folder", "--data", str(data), "--checkpoint",
               str(run / "best.pt"), "--tta-flip", "--json")  # flip test-time augmentation on request
    assert flip.returncode == 0, flip.stderr
    assert json.loads(flip.stdout)["clips"] == report["clips"]


def test_timeline_finds_both_movements_in_order(trained):
    run, _ = trained
    rng = np.random.default_rng(5)
    kp = np.concatenate([movement("raise", 120, rng), movement("squat", 120, rng)])
    kp[120:] += kp[119, 0] - kp[120, 0]  # same place, as in one video
    track = PoseTrack(kp, np.ones(kp.shape[:2]), np.arange(240) / 30.0, "penn13")
    tl = Recognizer(run / "best.pt").timeline(track, RecognitionSettings(window_s=2.0, hop_s=0.25,
                                                                         min_confidence=0.5))
    labels = [s.label for s in tl.segments if s.label != UNKNOWN]
    assert labels[0] == "raise" and labels[-1] == "squat"
    first = next(s for s in tl.segments if s.label == "raise")
    assert first.start < 1.0 and first.confidence > 0.5 and first.top3[0][0] == "raise"


def test_kfold_cli_and_stream_ensemble_with_global_encoding(trained, tmp_path):
    """`train --folds 3` cross-validates on the training split; the two-stream model trains with its
    own task and the 9-channel encoding, and `eval recognition` reads both back from the checkpoint."""
    _, data = trained
    cfg = tmp_path / "ens.yaml"
    cfg.write_text("model: tcn_ensemble\ntask: stream_ensemble\nmodel_kwargs.width: 32\n"
                   "data.encoding: sportnet_global\ndata.dataset: folder\n"
                   f"data.root: {data}\ndata.batch_size: 8\nfit.epochs: 8\nfit.lr: 0.003\nfit.warmup_epochs: 0\n")
    done = cli("train", str(cfg), "--folds", "3", "--set", f"out_dir={tmp_path}", "--set", "name=cv")
    assert done.returncode == 0, done.stderr
    cv = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert cv["k"] == 3 and len(cv["folds"]) == 3 and "3-fold validation accuracy" in done.stderr
    assert sum(f["n_val"] for f in cv["folds"]) == 36  # every one of the 36 training clips validates once
    assert cv["mean"]["accuracy"] > 0.8
    done = cli("train", str(cfg), "--set", f"out_dir={tmp_path}", "--set", "name=ens")
    assert done.returncode == 0, done.stderr
    ckpt = tmp_path / "ens" / "best.pt"
    done = cli("eval", "recognition", "--dataset", "folder", "--data", str(data), "--checkpoint", str(ckpt), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["top1"] >= 0.9
    bad = cli("train", str(cfg), "--folds", "1", "--set", f"out_dir={tmp_path}")
    assert bad.returncode != 0 and "--folds must be at least 2" in bad.stderr and "Traceback" not in bad.stderr


def test_bad_config_key_is_a_clear_error(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("modle: tcn\n")
    done = cli("train", str(cfg))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "modle" in done.stderr and str(cfg) in done.stderr


def test_checkpoint_from_another_layout_is_refused(trained):
    """Folder datasets are converted to the checkpoint's layout; a mismatched request is refused clearly."""
    from sportlens.engine.experiment import DataSettings, evaluate_clips
    from sportlens.errors import InputError

    run, _ = trained
    with pytest.raises(InputError, match="best.pt.*coco17|coco17.*best.pt"):
        evaluate_clips(run / "best.pt", make_clips(2), ["raise", "squat"], DataSettings(skeleton="coco17"))


def test_segments_logic_on_hand_made_probabilities():
    classes = ("a", "b")
    spans = np.array([[0, 10], [5, 15], [10, 20]])
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])
    frame = _per_frame(spans, probs, 25, 2)  # (25, 2)
    assert np.allclose(frame[0], [0.9, 0.1]) and np.allclose(frame[7], [0.7, 0.3])
    assert np.isnan(frame[22]).all()  # no window covers it
    labels = _frame_labels(frame, classes, min_conf=0.8)
    assert labels[0] == "a" and labels[12] == UNKNOWN and labels[17] == "b" and labels[22] == UNKNOWN
    segs = _segments(labels, frame, np.arange(25) / 10.0, classes, min_s=0.0)
    assert [s.label for s in segs] == ["a", UNKNOWN, "b", UNKNOWN]
    assert segs[0].top3[0][0] == "a" and segs[0].confidence == pytest.approx(0.9)


@pytest.mark.slow
def test_short_real_training_run_beats_chance(tmp_path):
    """A few epochs on the real Penn Action annotations: far above chance (1/15)."""
    from conftest import shared_path

    root = shared_path("data/penn_action/labels").parent
    done = cli("train", "configs/penn_tcn.yaml", "--set", "fit.epochs=3", "--set", f"data.root={root}",
               "--set", f"out_dir={tmp_path}", "--set", "name=short")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "short" / "metrics.json").read_text())
    assert metrics["test"]["top1"] > 0.6 and metrics["clips"]["test"] == 1068
