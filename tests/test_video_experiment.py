"""Video-model experiments: `sportlens train` on the generated video dataset, run folders, bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sportlens.engine.config import load_config
from sportlens.engine.video_experiment import (VideoTrainConfig, _reference_lengths, is_video_model, load_samples,
                                               run_video_training)
from sportlens.errors import InputError

TINY = ["data.synthetic_classes=3", "data.synthetic_clips_per_class=8", "data.synthetic_size=64",
        "data.num_frames=4", "data.image_size=32", "data.batch_size=8", "fit.epochs=2"]


pytestmark = pytest.mark.usefixtures("one_thread")


def test_is_video_model_tells_the_families_apart():
    assert all(is_video_model(n) for n in ("sportnet", "c3d_attn", "cnn_lstm", "two_stream", "hicnn_psta"))
    assert not any(is_video_model(n) for n in ("tcn", "stgcn", "psta", "no_such_model"))


def test_synthetic_samples_have_all_three_splits_and_sorted_classes():
    cfg = load_config(None, TINY, VideoTrainConfig())
    samples, classes, report = load_samples(cfg.data)
    assert classes == sorted(classes) and len(classes) == 3
    assert {s.split for s in samples} == {"train", "val", "test"}
    assert "synthetic: 24 clips" in report


@pytest.mark.parametrize("model, task, kwargs", [
    ("c3d_attn", "video_classification", "{width: 8}"),
    ("hicnn_psta", "action_pose", "{width: 16, heatmap_size: 8}"),
])
def test_run_video_training_writes_a_complete_run(tmp_path, model, task, kwargs):
    cfg = load_config(None, [*TINY, f"model={model}", f"task={task}", f"model_kwargs={kwargs}",
                             f"out_dir={tmp_path}", "name=run"], VideoTrainConfig())
    run = run_video_training(cfg)
    for f in ("best.pt", "last.pt", "config.yaml", "metrics.json", "history.csv", "confusion_matrix.png",
              "data_report.txt"):
        assert (run / f).is_file(), f
    m = json.loads((run / "metrics.json").read_text())
    t = m["test"]
    assert m["clips"] == {"train": 18, "val": 3, "test": 3}
    assert 0 <= t["top1"] <= 1 and t["params"] > 0 and t["flops"] > 0 and t["latency_ms"] > 0
    if task == "action_pose":
        assert set(t["pck"]) == {"pck@0.2", "pck@0.1", "pck@0.05"}
        assert all(0 <= v <= 1 for v in t["pck"].values())
    else:
        assert "pck" not in t


def test_reference_length_is_the_larger_side_of_the_visible_joints_box():
    gt = np.array([[[0, 0], [4, 1], [100, 100]], [[0, 0], [0, 0], [0, 0]]], float)  # (N=2, V=3, 2)
    vis = np.array([[True, True, False], [False, False, False]])
    np.testing.assert_allclose(_reference_lengths(gt, vis), [4.0, 1.0])


def test_cli_trains_a_video_model_and_refuses_folds(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: sportnet\nmodel_kwargs: {width: 8, hidden: 16}\n")
    sets = [a for kv in [*TINY, f"out_dir={tmp_path}", "name=cli"] for a in ("--set", kv)]
    done = subprocess.run([sys.executable, "-m", "sportlens", "train", str(cfg), *sets], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "test top-1" in done.stderr and (tmp_path / "cli" / "best.pt").is_file()
    bad = subprocess.run([sys.executable, "-m", "sportlens", "train", str(cfg), "--folds", "3"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode != 0 and "skeleton models only" in " ".join(bad.stderr.split())
    assert "Traceback" not in bad.stderr


def test_real_dataset_without_root_is_a_clear_error():
    cfg = load_config(None, ["data.dataset=ucf101"], VideoTrainConfig())
    with pytest.raises(InputError, match="needs data.root"):
        load_samples(cfg.data)
    cfg = load_config(None, ["data.dataset=kinetics", "data.root=/tmp"], VideoTrainConfig())
    with pytest.raises(InputError, match="unknown data.dataset"):
        load_samples(cfg.data)


def test_same_seed_same_run_even_after_other_work(tmp_path):
    """The seed fixes the initial weights as well as the data order: a run does not depend on what
    the process did before (e.g. the previous model of a benchmark)."""
    def run(name):
        cfg = load_config(None, [*TINY, "model=c3d_attn", "model_kwargs={width: 8}", f"out_dir={tmp_path}",
                                 f"name={name}"], VideoTrainConfig())
        return torch.load(run_video_training(cfg) / "best.pt", weights_only=True)["state_dict"]

    a = run("a")
    torch.randn(1000)  # consume global random state
    b = run("b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cli_pretrained_flag_and_unknown_model_kwargs(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("model: c3d_attn\n")
    for args, message in [(["--pretrained", str(tmp_path / "none.pth")], "no such file"),
                          (["--set", "model=tcn", "--pretrained", str(cfg)], "is for video models"),
                          (["--set", "model_kwargs.pretrained=x.pth"], "not accepted by c3d_attn")]:
        bad = subprocess.run([sys.executable, "-m", "sportlens", "train", str(cfg), *args, "--set",
                              f"out_dir={tmp_path}"], capture_output=True, text=True, timeout=120)
        text = " ".join(bad.stderr.split())  # rich wraps long lines
        assert bad.returncode != 0 and message in text, bad.stderr
        assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_experiment_file_loads_into_its_config(path):
    """A typo in a shipped experiment file is caught here, not after an hour of training."""
    from sportlens.engine.config import peek_key
    from sportlens.engine.experiment import TrainConfig

    from sportlens.engine.detection_experiment import DetectorTrainConfig
    from sportlens.models import DetectorModel, create_model

    model = peek_key(path, [], "model", None)
    with torch.device("meta"):
        detector = model is not None and isinstance(create_model(model), DetectorModel)
    base = DetectorTrainConfig() if detector else VideoTrainConfig() if is_video_model(model) else TrainConfig()
    load_config(path, [], base)
