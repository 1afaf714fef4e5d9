"""Engine: tasks, loops, fit (selection, early stopping, resume), metrics, checkpoints, configs.

Everything runs on tiny synthetic datasets (Gaussian blobs shaped (T, V, C)) and a tiny MLP.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from sportlens.engine import (ClassificationTask, FitSettings, build_from_checkpoint, build_optimizer,
                              build_scheduler, check_compatible, classification_report, count_flops,
                              count_parameters, cross_validate, evaluate, fit, latency_ms, load_checkpoint,
                              load_config, save_checkpoint, save_confusion_matrix, save_resolved_config,
                              set_seed, train_one_epoch)
from sportlens.errors import InputError
from sportlens.models import registry

T, V, C, K = 6, 5, 2, 3


class Blobs(Dataset):
    """n samples of K Gaussian blobs in (T, V, C); ``label_shift`` relabels y -> (y + shift) % K."""

    def __init__(self, n: int = 60, noise: float = 0.8, seed: int = 0, label_shift: int = 0):
        centers = torch.randn(K, T, V, C, generator=torch.Generator().manual_seed(123))
        self.y = torch.arange(n) % K
        self.x = centers[self.y] + noise * torch.randn(n, T, V, C, generator=torch.Generator().manual_seed(seed))
        self.y = (self.y + label_shift) % K

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "label": self.y[i]}


def engine_test_mlp(hidden: int = 16, num_classes: int = K) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(T * V * C, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(hidden, num_classes))


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """``engine_test_mlp`` is in the model registry during each test only (other tests list all models)."""
    monkeypatch.setitem(registry._MODELS, "engine_test_mlp", engine_test_mlp)

META = {"model_name": "engine_test_mlp", "model_kwargs": {"hidden": 16}, "classes": ["a", "b", "c"],
        "data_spec": {"skeleton": "coco17", "in_channels": C, "num_frames": T}, "config": {"note": "test"}}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run faster on one thread (and do not fight over a busy machine's cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def loader(ds: Dataset, train: bool = True) -> DataLoader:
    return DataLoader(ds, batch_size=16, shuffle=train)


def quick(**kw) -> FitSettings:
    return FitSettings(**{"epochs": 4, "lr": 0.01, "warmup_epochs": 1, "early_stopping_patience": 0, **kw})


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in model.state_dict().values()]


# ---------------------------------------------------------------- tasks and loops

def test_label_smoothing_loss_matches_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    batch = {"label": torch.tensor([0])}
    log_p = [z - math.log(sum(math.exp(v) for v in (2.0, 0.0, -1.0))) for v in (2.0, 0.0, -1.0) for z in [v]]
    eps = 0.1
    expected = (1 - eps) * -log_p[0] + eps * sum(-lp for lp in log_p) / 3
    assert ClassificationTask().loss(logits, batch).item() == pytest.approx(-log_p[0], abs=1e-6)
    assert ClassificationTask(label_smoothing=eps).loss(logits, batch).item() == pytest.approx(expected, abs=1e-6)
    assert expected > -log_p[0]  # smoothing penalises a confident correct prediction
    probs = ClassificationTask().predict(logits)
    assert probs.sum().item() == pytest.approx(1.0) and probs.argmax().item() == 0


def test_stream_ensemble_task_averages_member_losses_and_probabilities():
    from sportlens.engine.tasks import TASKS, StreamEnsembleTask

    assert TASKS["stream_ensemble"] is StreamEnsembleTask
    z = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 3.0], [1.0, 0.0, 2.0]]])  # (B=2, S=2, K=3)
    batch = {"label": torch.tensor([0, 2])}
    task = StreamEnsembleTask()
    by_hand = (F.cross_entropy(z[:, 0], batch["label"]) + F.cross_entropy(z[:, 1], batch["label"])) / 2
    torch.testing.assert_close(task.loss(z, batch), by_hand)
    probs = task.predict(z)
    torch.testing.assert_close(probs, (z[:, 0].softmax(-1) + z[:, 1].softmax(-1)) / 2)
    assert task.correct(z, batch) == 2


def test_class_weights_change_loss():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    batch = {"label": torch.tensor([0, 2])}
    plain_loss = ClassificationTask().loss(logits, batch).item()
    weighted = ClassificationTask(class_weights=[1.0, 1.0, 3.0]).loss(logits, batch).item()
    assert weighted > plain_loss  # the badly-predicted sample (class 2) weighs more


def test_train_one_epoch_reduces_loss_and_evaluate_returns_probs():
    set_seed(0)
    model, task = engine_test_mlp(), ClassificationTask()
    train, val = loader(Blobs(seed=1)), loader(Blobs(seed=2), train=False)
    before = evaluate(model, task, val)
    optimizer = build_optimizer(model, "adamw", lr=0.01)
    calls = []
    stats = [train_one_epoch(model, task, train, optimizer, grad_clip=1.0,
                             progress=lambda *a: calls.append(a)) for _ in range(3)]
    after = evaluate(model, task, val)
    assert after.loss < before.loss and stats[-1]["loss"] < stats[0]["loss"]
    assert set(stats[0]) == {"loss", "accuracy", "seconds"} and 0.0 <= stats[0]["accuracy"] <= 1.0
    assert len(calls) == 3 * len(train) and calls[-1][:2] == (len(train), len(train))
    assert after.probs.shape == (60, K) and after.labels.shape == (60,)
    np.testing.assert_allclose(after.probs.sum(axis=1), 1.0, atol=1e-5)
    assert after.labels.tolist() == Blobs(seed=2).y.tolist()


def test_optimizer_groups_and_schedules():
    model = engine_test_mlp()
    opt = build_optimizer(model, "sgd", lr=0.1, weight_decay=0.01, momentum=0.9)
    decayed, free = opt.param_groups
    assert decayed["weight_decay"] == 0.01 and free["weight_decay"] == 0.0
    assert all(p.ndim == 2 for p in decayed["params"]) and len(free["params"]) == 4  # 2 biases + BN w/b
    sched = build_scheduler(opt, "cosine", epochs=10, steps_per_epoch=5, warmup_epochs=2)
    lrs = []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.01) and lrs[9] == pytest.approx(0.1) and max(lrs) <= 0.1 + 1e-12
    assert lrs[-1] < 0.001 and all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    opt = build_optimizer(model, "adam", lr=1.0)
    sched = build_scheduler(opt, "step", epochs=10, steps_per_epoch=2, step_size=3, gamma=0.5)
    seen = []
    for _ in range(14):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == [1.0] * 6 + [0.5] * 6 + [0.25] * 2
    assert build_scheduler(opt, "none", epochs=1, steps_per_epoch=1) is None
    with pytest.raises(ValueError, match="rmsprop"):
        build_optimizer(model, "rmsprop")


# ---------------------------------------------------------------- fit

@pytest.mark.parametrize("noise, lr, shift", [
    (2.0, 0.003, 0),  # noisy blobs: validation improves for a few epochs, then plateaus/declines
    (0.8, 0.01, 1),  # shifted validation labels: the better the fit, the worse validation gets
])
def test_fit_selects_best_val_epoch_and_stops_early(tmp_path, noise, lr, shift):
    set_seed(0)
    model, task = engine_test_mlp(), ClassificationTask()
    settings = quick(epochs=40, lr=lr, early_stopping_patience=2)
    val_data = Blobs(seed=2, noise=noise, label_shift=shift)
    result = fit(model, task, loader(Blobs(seed=1, noise=noise)), loader(val_data, False), settings,
                 run_dir=tmp_path, checkpoint_meta=META)
    hist = result.history
    assert result.stopped_early and len(hist) < 40
    mca = [row["val_mean_class_accuracy"] for row in hist]
    best = max(range(len(hist)), key=lambda i: (mca[i], -hist[i]["val_loss"])) + 1
    assert result.best_epoch == best and result.best_val == mca[best - 1]
    last_improved = max(i for i in range(len(mca)) if mca[i] > max(mca[:i], default=-1)) + 1
    assert len(hist) == last_improved + 2
    ckpt = load_checkpoint(result.best_checkpoint)
    assert ckpt["epoch"] == best and ckpt["optimizer"] is None
    reloaded = evaluate(build_from_checkpoint(ckpt), task, loader(val_data, False))
    assert reloaded.loss == pytest.approx(hist[best - 1]["val_loss"], rel=1e-5)
    assert load_checkpoint(result.last_checkpoint)["epoch"] == len(hist)
    for name in ("best.pt", "last.pt", "history.csv", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(lines) == len(hist) + 1 and lines[0].startswith("epoch,lr,train_loss,train_accuracy,val_loss")


def test_fit_without_validation_keeps_the_last_epoch(tmp_path):
    """A refit on all training data (val_fraction 0): no selection, best.pt is the last epoch's weights."""
    set_seed(0)
    model = engine_test_mlp()
    result = fit(model, ClassificationTask(), loader(Blobs(seed=1)), None, quick(epochs=4, early_stopping_patience=1),
                 run_dir=tmp_path, checkpoint_meta=META)
    assert len(result.history) == 4 and result.best_epoch == 4 and not result.stopped_early
    assert math.isnan(result.best_val) and not any(k.startswith("val_") for k in result.history[-1])
    best = build_from_checkpoint(load_checkpoint(result.best_checkpoint))
    assert all(torch.equal(a, b) for a, b in zip(weights(best), weights(model)))


def _run(tmp_path, name, settings, **kw):
    set_seed(7)
    model = engine_test_mlp()
    result = fit(model, ClassificationTask(label_smoothing=0.1), loader(Blobs(seed=1)),
                 loader(Blobs(seed=2), False), settings, run_dir=tmp_path / name, checkpoint_meta=META, **kw)
    return model, result


def test_set_seed_makes_two_fits_identical(tmp_path):
    m1, r1 = _run(tmp_path, "a", quick(epochs=3))
    m2, r2 = _run(tmp_path, "b", quick(epochs=3))
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in r1.history]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in r2.history]
    assert all(torch.equal(a, b) for a, b in zip(weights(m1), weights(m2)))


class Interrupt(Exception):
    pass


def test_resume_continues_from_saved_epoch(tmp_path):
    settings = quick(epochs=4)
    full_model, full = _run(tmp_path, "full", settings)

    def stop_after_2(row):
        if row["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        _run(tmp_path, "part", settings, on_epoch=stop_after_2)
    last = load_checkpoint(tmp_path / "part" / "last.pt")
    assert last["epoch"] == 2 and last["optimizer"]["state"] and last["scheduler"]["last_epoch"] == 2 * 4
    set_seed(123)  # a different initialisation and RNG state: resume must restore everything
    model = engine_test_mlp()
    resumed = fit(model, ClassificationTask(label_smoothing=0.1), loader(Blobs(seed=1)),
                  loader(Blobs(seed=2), False), settings, run_dir=tmp_path / "part", checkpoint_meta=META,
                  resume=tmp_path / "part" / "last.pt")
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(resumed.history, full.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6) and a["lr"] == pytest.approx(b["lr"])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(weights(model), weights(full_model)))
    with pytest.raises(InputError, match="best.pt"):
        fit(engine_test_mlp(), ClassificationTask(), loader(Blobs()), loader(Blobs(), False), settings,
            run_dir=tmp_path / "x", checkpoint_meta=META, resume=tmp_path / "full" / "best.pt")


def test_cross_validate_averages_folds(tmp_path):
    data = [Blobs(n=30, seed=s) for s in range(3)]
    folds = [(data[0], data[1]), (data[1], data[2])]
    summary = cross_validate(engine_test_mlp, ClassificationTask(), folds, loader, quick(epochs=2), tmp_path,
                             checkpoint_meta=META)
    assert summary["k"] == 2 and len(summary["folds"]) == 2
    accs = [f["val"]["mean_class_accuracy"] for f in summary["folds"]]
    assert summary["mean"]["mean_class_accuracy"] == pytest.approx(np.mean(accs))
    assert summary["std"]["mean_class_accuracy"] == pytest.approx(np.std(accs))
    assert (tmp_path / "cv.json").exists() and (tmp_path / "fold1" / "best.pt").exists()


# ---------------------------------------------------------------- checkpoints

def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    set_seed(0)
    model = engine_test_mlp()
    opt = build_optimizer(model, "adamw", lr=0.01)
    train_one_epoch(model, ClassificationTask(), loader(Blobs()), opt)
    path = save_checkpoint(tmp_path / "m.pt", **META, model=model, optimizer=opt, epoch=1,
                           metrics={"val_accuracy": np.float64(0.5)})
    ckpt = load_checkpoint(path)
    assert ckpt["classes"] == ["a", "b", "c"] and ckpt["metrics"]["val_accuracy"] == 0.5
    rebuilt = build_from_checkpoint(ckpt)
    x = Blobs(seed=3).x[:8]
    model.eval()
    with torch.inference_mode():
        assert torch.equal(model(x), rebuilt(x))
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind


def test_checkpoint_errors_name_the_file(tmp_path):
    path = save_checkpoint(tmp_path / "coco.pt", **META, model=engine_test_mlp(), epoch=0, metrics={})
    ckpt = load_checkpoint(path)
    check_compatible(ckpt, skeleton="coco17", in_channels=C, num_frames=T)  # fine
    with pytest.raises(InputError, match=r"coco\.pt.*skeleton coco17, data is penn13"):
        check_compatible(ckpt, skeleton="penn13", in_channels=C)
    with pytest.raises(InputError, match=r"in_channels 2, data is 3"):
        check_compatible(ckpt, skeleton="coco17", in_channels=3)
    with pytest.raises(InputError, match="missing.pt.*not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    bad = dict(ckpt, model_kwargs={"hidden": 32})
    with pytest.raises(InputError, match="coco.pt.*do not fit"):
        build_from_checkpoint(bad)
    with pytest.raises(InputError, match="no_such_model"):
        build_from_checkpoint(dict(ckpt, model_name="no_such_model"))


# ---------------------------------------------------------------- metrics

def _probs(preds, k):
    probs = np.full((len(preds), k), 0.1 / (k - 1))
    probs[np.arange(len(preds)), preds] = 0.9
    return probs


def test_classification_report_on_hand_made_confusion(tmp_path):
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    preds = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    rep = classification_report(labels, _probs(preds, 3), ["a", "b", "c"])
    assert rep["top1"] == pytest.approx(0.8) and rep["top5"] is None
    assert rep["per_class_accuracy"] == pytest.approx({"a": 0.75, "b": 2 / 3, "c": 1.0})
    assert rep["mean_class_accuracy"] == pytest.approx((0.75 + 2 / 3 + 1.0) / 3)
    assert rep["confusion_matrix"] == [[3, 1, 0], [0, 2, 1], [0, 0, 3]]
    precision = [1.0, 2 / 3, 0.75]
    recall = [0.75, 2 / 3, 1.0]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall)]
    assert rep["macro_precision"] == pytest.approx(np.mean(precision))
    assert rep["macro_recall"] == pytest.approx(np.mean(recall))
    assert rep["macro_f1"] == pytest.approx(np.mean(f1))
    assert all(type(v) in (float, int, type(None), dict, list) for v in rep.values())

    cm_png, cm_csv = tmp_path / "cm.png", tmp_path / "cm.csv"
    save_confusion_matrix(rep["confusion_matrix"], ["a", "b", "c"], cm_png, cm_csv)
    assert cm_png.read_bytes()[:4] == b"\x89PNG"
    assert cm_csv.read_text().splitlines()[1] == "a,3,1,0"


def test_classification_report_auc_top5_and_absent_classes():
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    rep = classification_report(labels, _probs(labels, 5), list("abcde"))  # perfectly separated
    assert rep["roc_auc"]["a"] == 1.0 and rep["roc_auc_macro"] == 1.0
    assert rep["roc_auc"]["e"] is None and rep["per_class_accuracy"]["e"] is None  # absent from labels
    assert rep["top1"] == 1.0 and rep["top5"] == 1.0 and rep["mean_class_accuracy"] == 1.0
    wrong = (labels + 1) % 5
    rep = classification_report(labels, _probs(wrong, 5), list("abcde"))
    assert rep["top1"] == 0.0 and rep["top5"] == 1.0


def test_flops_parameters_and_latency():
    linear = nn.Linear(10, 20)
    x = torch.randn(1, 10)
    assert count_flops(linear, x) == 2 * 10 * 20
    assert count_parameters(linear) == 10 * 20 + 20

    class LastStep(nn.Module):  # a fused LSTM kernel (oneDNN/cuDNN) is counted too
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True, bidirectional=True)

        def forward(self, x):
            return self.lstm(x)[0][:, -1]

    b, t = 3, 5  # per step, layer and direction: 4 gates x (input + hidden) matmuls, 2 flops per MAC
    expected = sum(2 * 2 * b * t * 4 * 16 * (n_in + 16) for n_in in (8, 32))
    assert count_flops(LastStep(), torch.randn(b, t, 8)) == expected
    model = engine_test_mlp().train()
    ms = latency_ms(model, torch.randn(4, T, V, C), repeats=5)
    assert isinstance(ms, float) and ms > 0 and model.training  # mode restored


# ---------------------------------------------------------------- configs

@dataclass(frozen=True)
class _Data:
    skeleton: str = "penn13"
    num_frames: int = 32
    size: tuple[int, int] = (1, 2)
    root: str | None = None


@dataclass(frozen=True)
class _Exp:
    model: str = "mlp"
    model_kwargs: dict = field(default_factory=dict)
    data: _Data = field(default_factory=_Data)
    fit: FitSettings = field(default_factory=FitSettings)


def test_config_overrides_yaml_then_set(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("model: stgcn\nmodel_kwargs.hidden: 256\nfit.lr: 0.01\ndata.size: [3, 4]\n"
                    "data:\n  num_frames: 16\n")
    cfg = load_config(path, ["fit.epochs=5", "fit.lr=1", "model_kwargs.dropout=0.5", "data.root=/x"], base=_Exp())
    assert cfg.model == "stgcn" and cfg.model_kwargs == {"hidden": 256, "dropout": 0.5}
    assert cfg.fit.lr == 1.0 and isinstance(cfg.fit.lr, float) and cfg.fit.epochs == 5
    assert cfg.data.size == (3, 4) and cfg.data.num_frames == 16 and cfg.data.root == "/x"
    assert cfg.fit.optimizer == "adamw"  # untouched default
    saved = save_resolved_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(saved, [], base=_Exp) == cfg
    assert load_config(None, [], base=_Exp) == _Exp()
    assert load_config(None, ["fit.lr=1e-3"], base=_Exp).fit.lr == 0.001  # YAML 1.1 reads 1e-3 as a string


def test_config_errors_name_key_and_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("fit.learning_rate: 0.1\n")
    with pytest.raises(InputError, match=r"bad\.yaml.*'fit\.learning_rate'.*fit\.lr"):
        load_config(path, [], base=_Exp())
    with pytest.raises(InputError, match=r"'fit\.epochs' expects int, got 'abc'"):
        load_config(None, ["fit.epochs=abc"], base=_Exp())
    with pytest.raises(InputError, match=r"'fit\.epochs' expects int, got 2\.5"):
        load_config(None, ["fit.epochs=2.5"], base=_Exp())
    with pytest.raises(InputError, match=r"'data\.size' expects tuple\[int, int\]"):
        load_config(None, ["data.size=[1, 2, 3]"], base=_Exp())
    with pytest.raises(InputError, match=r"'model\.x'"):
        load_config(None, ["model.x=1"], base=_Exp())
    with pytest.raises(InputError, match="key=value"):
        load_config(None, ["fit.lr"], base=_Exp())
    with pytest.raises(InputError, match="nope.yaml.*not found"):
        load_config(tmp_path / "nope.yaml", [], base=_Exp())
