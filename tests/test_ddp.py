"""Distributed (DDP) training: 2 CPU processes (gloo) give the weights and metrics of one process fed
the same global batches; `sportlens train --nproc 2` and a torchrun launch write a complete run."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn
from _skeleton_data import make_clips, movement
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from sportlens.data import SkeletonClip, save_skeleton_dataset
from sportlens.engine import ClassificationTask, FitSettings, build_from_checkpoint, fit, load_checkpoint, set_seed
from sportlens.engine import distributed
from sportlens.engine.experiment import DataSettings, TrainConfig, make_loader
from sportlens.errors import InputError

T, BATCH, SEED = 12, 8, 3
CLASSES = ["raise", "squat"]
DATA = DataSettings(skeleton="penn13", num_frames=T, encoding="sportnet", batch_size=BATCH)
SETTINGS = FitSettings(epochs=3, lr=0.01, warmup_epochs=1, early_stopping_patience=0, seed=SEED)
META = {"model_name": "ddp_test_mlp", "classes": CLASSES}


def clips(n: int, seed: int) -> list[SkeletonClip]:
    """Clips exactly T frames long: training segment sampling then has one choice per segment, so the
    data do not depend on which process draws them (only the batch composition and order matter)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = CLASSES[i % 2]
        kp = movement(kind, T, rng, phase=rng.uniform(0, 0.5))
        out.append(SkeletonClip(name=f"{kind}{i}", keypoints=kp, visibility=np.ones(kp.shape[:2], bool),
                                label=kind, split="train", skeleton="penn13", fps=30.0))
    return out


def mlp() -> nn.Module:
    """No BatchNorm, no dropout: on CPU those differ per process by design (see engine.distributed)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(T * 13 * 5, 32), nn.ReLU(), nn.Linear(32, len(CLASSES)))


def train(run_dir, train_loader) -> None:
    set_seed(SEED)  # the same seed everywhere: the same initial weights in every process
    val = make_loader(clips(10, 2), CLASSES, DATA, train=False, augment=None, seed=0)
    fit(mlp(), ClassificationTask(), train_loader, val, SETTINGS, run_dir=run_dir, checkpoint_meta=META)


def ddp_rank(run_dir) -> None:
    """One rank: the experiment's own make_loader gives it a DistributedSampler and batch BATCH / 2."""
    loader = make_loader(clips(40, 1), CLASSES, DATA, train=True, augment=None, seed=SEED)
    assert isinstance(loader.sampler, DistributedSampler) and loader.batch_size == BATCH // 2
    train(run_dir, loader)


def history(run_dir) -> list[dict]:
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # each spawned process imports torch and sportlens: ~10 s on a busy 2-core machine
def test_two_cpu_processes_match_one_process_on_the_same_global_batches(tmp_path):
    ds = make_loader(clips(40, 1), CLASSES, DATA, train=True, augment=None, seed=SEED).dataset
    one = DataLoader(ds, batch_size=BATCH, drop_last=True,
                     sampler=DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=SEED, drop_last=True))
    with torch.random.fork_rng():
        train(tmp_path / "one", one)
    distributed.launch(ddp_rank, (tmp_path / "ddp",), nproc=2, backend="gloo")

    single, ddp = load_checkpoint(tmp_path / "one" / "last.pt"), load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert single["state_dict"].keys() == ddp["state_dict"].keys()  # no DDP "module." prefix
    for name, w in single["state_dict"].items():
        torch.testing.assert_close(ddp["state_dict"][name], w, atol=1e-5, rtol=1e-4, msg=name)
    assert not torch.equal(single["state_dict"]["1.weight"], mlp()[1].weight)  # it did train
    h1, h2 = history(tmp_path / "one"), history(tmp_path / "ddp")
    assert len(h1) == len(h2) == SETTINGS.epochs
    for a, b in zip(h1, h2):  # train metrics all-reduced over both ranks; validation on rank 0
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
            assert float(b[key]) == pytest.approx(float(a[key]), rel=1e-4, abs=1e-6), key
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == ["best.pt", "curves.png", "history.csv",
                                                                    "last.pt"]


def test_single_process_helpers_are_transparent():
    model = mlp()
    assert distributed.wrap(model) is model
    assert distributed.all_reduce_sums(1.5, 3, 2) == (1.5, 3, 2)
    assert distributed.on_main(lambda a: a + 1, 1) == 2
    assert distributed.rank() == 0 and distributed.world_size() == 1 and distributed.is_main()
    assert distributed.train_sampler(make_loader(clips(4, 0), CLASSES, DATA, train=True, augment=None,
                                                 seed=0).dataset, 0) is None
    assert distributed.local_batch_size(7) == 7


def test_torchrun_environment_is_detected(monkeypatch):
    for key in distributed.TORCHRUN_VARS:
        monkeypatch.delenv(key, raising=False)
    assert not distributed.launched_by_torchrun()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not distributed.launched_by_torchrun()  # one process: nothing to distribute
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert distributed.launched_by_torchrun()


def test_unsupported_setups_fail_clearly(monkeypatch):
    with pytest.raises(InputError, match="stream_ensemble"):
        distributed.train_data_parallel(TrainConfig(task="stream_ensemble"), 2)
    with pytest.raises(InputError, match="multiple of 2"):
        distributed.train_data_parallel(TrainConfig(data=replace(DATA, batch_size=7)), 2)
    with pytest.raises(InputError, match="--nproc"):
        distributed.launch(ddp_rank, (), 0)
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    with pytest.raises(InputError, match="multiple of 3"):
        distributed.local_batch_size(8)


def failing_rank() -> None:
    if distributed.rank() == 1:
        raise InputError("rank one has no data")


@pytest.mark.slow
def test_a_failing_rank_stops_the_launch_with_its_error():
    with pytest.raises(distributed.RankFailed, match="InputError: rank one has no data"):
        distributed.launch(failing_rank, (), nproc=2, backend="gloo")


# ---------------------------------------------------------------- the command line (slow)

def _experiment(tmp_path):
    data = save_skeleton_dataset(make_clips(24), tmp_path / "data")
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("model: sportnet_pose\nmodel_kwargs.hidden: 64\ndata.dataset: folder\n"
                   f"data.root: {data}\ndata.batch_size: 8\ndata.val_fraction: 0.2\nfit.epochs: 8\n"
                   f"fit.lr: 0.003\nfit.warmup_epochs: 0\nout_dir: {tmp_path / 'runs'}\n")
    return cfg


def _check_run(run, out):
    for name in ("config.yaml", "best.pt", "last.pt", "history.csv", "curves.png", "metrics.json",
                 "confusion_matrix.png", "data_report.txt"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["top1"] >= 0.9 and metrics["epochs_run"] == 8
    build_from_checkpoint(load_checkpoint(run / "best.pt"))  # loads into a plain (not DDP) model
    assert out.count("epoch ") == 8  # rank 0 only: one line per epoch, not two


@pytest.mark.slow
def test_train_cli_with_two_processes(tmp_path):
    cfg = _experiment(tmp_path)
    done = subprocess.run([sys.executable, "-m", "sportlens", "train", str(cfg), "--nproc", "2", "--set", "name=ddp"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"run: {tmp_path / 'runs' / 'ddp'}"
    _check_run(tmp_path / "runs" / "ddp", done.stderr)


@pytest.mark.slow
def test_train_under_torchrun(tmp_path):
    """The multi-node route, on one node: torchrun sets the env:// variables, each rank runs the CLI."""
    cfg = _experiment(tmp_path)
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
                           "--master-addr", "127.0.0.1", "--master-port", str(distributed.free_port()),
                           "-m", "sportlens", "train", str(cfg)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # rank 0's name, broadcast: both ranks wrote to one folder
    assert done.stdout.count("run: ") == 1
    _check_run(runs[0], done.stderr)
