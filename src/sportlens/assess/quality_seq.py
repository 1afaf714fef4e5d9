"""Quality models trained with the torch engine on skeleton sequences (issue 7): ``--model tcn``.

The tree models of ``assess.quality`` see whole-repetition summary statistics; this module gives the
same task to the project's torch engine (``engine.fit`` with a task object, a model from the registry):

Sequence (``sequence_tensor``): one repetition -> (T, V, C) float32.

1. The body frame of the tree features, by the same functions (``quality._check``: missing joints
   interpolated, ``normalize_positions``: root-centred, hip line along x for 3-D data, torso-length units).
2. Resampled to ``SequenceSettings.frames`` frames over the repetition's normalised time (``loso.resample``).
3. Channels per joint, in this order: the position minus the start pose (mean of the first
   ``QualitySettings.start_frames`` frames, as the trees' features) (C_pos = 2 or 3); its velocity in torso
   lengths per second, i.e. the frame difference of the resampled positions times frames / duration (0 for
   the first frame); where the data has joint angles (UI-PRMD's Euler angles) the angles minus the start
   pose in units of 90 deg; and the duration in seconds as one constant channel (resampling removes the
   tempo, which the trees keep as a feature). UI-PRMD: C = 3 + 3 + 3 + 1 = 10; 2-D video tracks: 2 + 2 + 1 = 5.

Model: the registered ``tcn`` (``models/tcn.py``, width ``SequenceSettings.width``), built for the
sample's skeleton layout (``kinect22`` for UI-PRMD is registered in ``sportlens.skeletons``), 2 outputs
(``ClassificationTask``, softmax P(correct)) or 1 output (``engine.tasks.RegressionTask`` on scores
standardised by the training mean/std). **One network per movement**, as the trees (``QualityModel``
keeps one entry per movement; a user's new movement needs no retraining of the others). ``pooled=True``:
one network for all movements, the movement's one-hot code as extra constant channels (``with_movement``),
ten times the training data per network; every movement entry of the model file holds that one network.

Training (``train_sequence_estimator``): ``engine.fit`` (AdamW, cosine schedule, ``epochs``), the best epoch
chosen on a validation split of the *training* subjects only (``val_subjects`` whole subjects, drawn with
``seed``; with fewer than 3 subjects a random fifth of the recordings; with fewer than 5 recordings no
split, the last epoch is kept). The held-out subject of a LOSO fold is never seen (``evaluate_loso_seq``).

Saved (``SequenceEstimator``): the model name and kwargs, the weights as numpy arrays, the settings and
the score scaling; it lives in the ``estimator`` slot of a ``QualityModel`` entry (``assess.quality``), so
``save_quality_model`` / ``load_quality_model`` / ``apply_quality_model`` and ``analyze --quality-model``
use it unchanged; the entry's ``feature_names`` / ``reference_*`` are the tree summary features, which
``apply_quality_model`` still uses for the ``Deviation`` rows (the score comes from the network).

Measured on UI-PRMD (LOSO, ``benchmarks/results/bench_quality_torch.md``, ~4-6 min on 1 thread): one network
per movement (the default, fixed before any run) 79.0 % mean accuracy / mean AUC 0.868; pooled (tried after
seeing that: the per-movement networks fit their ~144 training repetitions perfectly within ~10 epochs and
generalise poorly) 83.7 % / 0.917. Both below the trees (90.8 % / 0.963) and the earlier plain-torch
network of the ``assess.quality`` docstring (85.9 % / 0.925): a capability, not a better model.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from sportlens.assess.loso import LosoResult, finish, loso_splits, record_movement, resample
from sportlens.assess.quality import (
    QualityModel, QualitySettings, _check, _reference_rows, feature_matrix,
)
from sportlens.data.ui_prmd import QualitySample
from sportlens.errors import InputError

MODEL_NAME = "tcn"
ANGLE_UNIT = 90.0  # degrees per unit of the angle channels


@dataclass(frozen=True)
class SequenceSettings:
    """Knobs of the sequence model (fixed before any LOSO run; no per-fold tuning)."""

    frames: int = 32
    velocities: bool = True
    width: int = 64
    num_layers: int = 3
    kernel_size: int = 5
    dropout: float = 0.3
    epochs: int = 40
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-3
    val_subjects: int = 2
    pooled: bool = False  # one network for all movements, the movement as one-hot input channels
    seed: int = 0

    def __post_init__(self) -> None:
        if self.frames < 2 or self.epochs < 1 or self.batch_size < 1 or self.width < 1 or self.val_subjects < 1:
            raise ValueError(f"bad sequence settings {self}")


# ----------------------------------------------------------------------------- dataset
def sequence_tensor(sample: QualitySample, settings: QualitySettings = QualitySettings(),
                    seq: SequenceSettings = SequenceSettings()) -> np.ndarray:
    """One repetition -> (frames, V, C) float32 (module docstring)."""
    pos, _, where, _ = _check(sample, settings)  # body frame, missing joints filled (the trees' own steps)
    duration = len(pos) / float(sample.fps)
    n0 = min(settings.start_frames, len(pos))
    rel = pos - pos[:n0].mean(axis=0)
    r = resample(rel, seq.frames)  # (T, V, C)
    parts = [r]
    if seq.velocities:
        vel = np.zeros_like(r)
        vel[1:] = np.diff(r, axis=0) * (seq.frames - 1) / max(duration, 1e-9)
        parts.append(vel)
    if settings.use_angles and sample.angles is not None:
        ang = np.asarray(sample.angles, dtype=np.float64)
        if ang.shape != (len(pos), pos.shape[1], 3):
            raise InputError(f"{where}: angles {ang.shape} do not match positions {pos.shape}")
        parts.append(resample(ang - ang[:n0].mean(axis=0), seq.frames) / ANGLE_UNIT)
    parts.append(np.full(r.shape[:2] + (1,), duration))
    return np.concatenate(parts, axis=-1).astype(np.float32)


def with_movement(x: np.ndarray, movement: int | str, movements: Sequence[str]) -> np.ndarray:
    """(T, V, C) -> (T, V, C + M): the movement's one-hot code as M constant channels (pooled model)."""
    if str(movement) not in movements:
        raise InputError(f"this quality model has no movement {str(movement)!r}; it knows {', '.join(movements)}")
    code = np.zeros(x.shape[:2] + (len(movements),), dtype=x.dtype)
    code[..., list(movements).index(str(movement))] = 1.0
    return np.concatenate([x, code], axis=-1)


class QualitySequenceDataset:
    """Map-style torch dataset: ``{"x": (T, V, C) float32, "label": int64}`` (classification) or
    ``{"x", "target": float32}`` (regression, ``targets`` given). Tensors are computed once. With
    ``movements`` (pooled model) each item also carries its movement's one-hot channels (``with_movement``)."""

    def __init__(self, samples: Sequence[QualitySample], settings: QualitySettings = QualitySettings(),
                 seq: SequenceSettings = SequenceSettings(), targets: Sequence[float] | None = None,
                 movements: Sequence[str] | None = None):
        import torch

        if not samples:
            raise InputError("no recordings for a quality sequence dataset")
        xs = [sequence_tensor(s, settings, seq) for s in samples]
        if movements:
            xs = [with_movement(x, s.movement, movements) for x, s in zip(xs, samples)]
        shapes = {x.shape for x in xs}
        if len(shapes) != 1:
            raise InputError(f"recordings give sequences of different shapes {sorted(shapes)}; use one skeleton "
                             "layout, all with or all without angles")
        self.x = torch.from_numpy(np.stack(xs))
        self.regression = targets is not None
        if self.regression:
            self.y = torch.as_tensor(np.asarray(targets, dtype=np.float32))
        else:
            self.y = torch.as_tensor([s.label for s in samples], dtype=torch.int64)

    @property
    def shape(self) -> tuple[int, ...]:
        """(T, V, C) of one item."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"x": self.x[i], ("target" if self.regression else "label"): self.y[i]}


# ----------------------------------------------------------------------------- estimator
class SequenceEstimator:
    """A trained sequence network, picklable without torch tensors (weights as numpy arrays).

    ``predict_samples(samples)``: P(correct) (classification) or the score (regression) per recording."""

    def __init__(self, model_name: str, model_kwargs: dict[str, Any], state: dict[str, np.ndarray],
                 settings: QualitySettings, seq: SequenceSettings, regression: bool, target_mean: float = 0.0,
                 target_std: float = 1.0, best_epoch: int = 0, history: list[dict[str, Any]] | None = None,
                 movements: Sequence[str] | None = None):
        self.model_name, self.model_kwargs, self.state = model_name, dict(model_kwargs), state
        self.settings, self.seq, self.regression = settings, seq, regression
        self.target_mean, self.target_std = float(target_mean), float(target_std)
        self.best_epoch, self.history = best_epoch, history or []
        self.movements = tuple(movements) if movements else None  # pooled: the one-hot order
        self._net = None

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["_net"] = None
        d["settings"], d["seq"] = asdict(self.settings), asdict(self.seq)
        return d

    def __setstate__(self, d: dict[str, Any]) -> None:
        d = dict(d)
        d["settings"], d["seq"] = QualitySettings(**d["settings"]), SequenceSettings(**d["seq"])
        self.__dict__.update(d)

    def network(self):
        if self._net is None:
            import torch

            from sportlens.models import create_model

            net = create_model(self.model_name, **self.model_kwargs)
            net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in self.state.items()}, strict=True)
            self._net = net.eval()
        return self._net

    def predict_samples(self, samples: Sequence[QualitySample], movement: int | str | None = None) -> np.ndarray:
        """``movement``: for a pooled model, the movement of every sample (default: each sample's own)."""
        import torch

        xs = [sequence_tensor(s, self.settings, self.seq) for s in samples]
        if self.movements:
            xs = [with_movement(x, s.movement if movement is None else movement, self.movements)
                  for x, s in zip(xs, samples)]
        x = torch.from_numpy(np.stack(xs))
        with torch.inference_mode():
            out = self.network()(x).float()
        if self.regression:
            return out[:, 0].numpy() * self.target_std + self.target_mean
        return out.softmax(dim=1)[:, 1].numpy()


def _validation_split(samples: Sequence[QualitySample], seq: SequenceSettings) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices: whole training subjects, else a fifth of the recordings (docstring)."""
    n = len(samples)
    rng = np.random.default_rng(seq.seed)
    subj = np.array([str(s.subject) for s in samples])
    uniq = np.unique(subj)
    if len(uniq) >= 3:
        val_subj = rng.choice(uniq, size=min(seq.val_subjects, len(uniq) - 1), replace=False)
        val = np.isin(subj, val_subj)
        return np.flatnonzero(~val), np.flatnonzero(val)
    if n >= 5:
        perm = rng.permutation(n)
        k = max(1, n // 5)
        return np.sort(perm[k:]), np.sort(perm[:k])
    idx = np.arange(n)
    return idx, idx  # too few recordings to hold any out: "selection" on the training data (last epoch)


def train_sequence_estimator(samples: Sequence[QualitySample], regression: bool = False,
                             settings: QualitySettings = QualitySettings(),
                             seq: SequenceSettings = SequenceSettings()) -> SequenceEstimator:
    """Train one network on ``samples`` (one movement, or all with ``seq.pooled``) through ``engine.fit``;
    epoch chosen on validation subjects drawn from ``samples`` (nothing else is seen)."""
    import torch
    from torch.utils.data import DataLoader, Subset

    from sportlens.engine.fit import FitSettings, fit
    from sportlens.engine.tasks import ClassificationTask, RegressionTask
    from sportlens.models import create_model

    if not samples:
        raise InputError("no recordings to train a quality sequence model on")
    tr, va = _validation_split(samples, seq)
    mean, std = 0.0, 1.0
    targets = None
    if regression:
        y = np.array([s.score for s in samples], dtype=np.float64)
        mean, std = float(y[tr].mean()), float(y[tr].std()) or 1.0
        targets = (y - mean) / std
    elif len({s.label for s in samples}) < 2:
        raise InputError(f"all {len(samples)} recordings have the same label; a classifier needs both")
    movements = sorted({str(s.movement) for s in samples}) if seq.pooled else None
    data = QualitySequenceDataset(samples, settings, seq, targets, movements)
    t, v, c = data.shape
    kwargs = {"num_classes": 1 if regression else 2, "skeleton": samples[0].skeleton, "in_channels": c,
              "num_frames": t, "width": seq.width, "num_layers": seq.num_layers, "kernel_size": seq.kernel_size,
              "dropout": seq.dropout}
    torch.manual_seed(seq.seed)
    net = create_model(MODEL_NAME, **kwargs)
    gen = torch.Generator().manual_seed(seq.seed)
    train_loader = DataLoader(Subset(data, tr.tolist()), batch_size=seq.batch_size, shuffle=True, generator=gen,
                              drop_last=len(tr) > seq.batch_size and len(tr) % seq.batch_size == 1)  # BN: no batch of 1
    val_loader = DataLoader(Subset(data, va.tolist()), batch_size=256)
    task = RegressionTask() if regression else ClassificationTask()
    fs = FitSettings(epochs=seq.epochs, lr=seq.lr, weight_decay=seq.weight_decay, warmup_epochs=1.0,
                     early_stopping_patience=0, seed=seq.seed)
    with tempfile.TemporaryDirectory(prefix="sportlens-quality-") as run_dir:
        res = fit(net, task, train_loader, val_loader, fs, run_dir=run_dir,
                  checkpoint_meta={"model_name": MODEL_NAME, "model_kwargs": kwargs, "classes":
                                   ["score"] if regression else ["incorrect", "correct"],
                                   "data_spec": {"skeleton": kwargs["skeleton"], "in_channels": c,
                                                 "num_frames": t}})
        chosen = res.best_checkpoint if va is not tr else res.last_checkpoint
        state = torch.load(chosen, map_location="cpu", weights_only=True)["state_dict"]
    return SequenceEstimator(MODEL_NAME, kwargs, {k: v.numpy().copy() for k, v in state.items()}, settings, seq,
                             regression, mean, std, res.best_epoch if va is not tr else len(res.history),
                             res.history, movements)


# ----------------------------------------------------------------------------- whole models and LOSO
def train_sequence_quality_model(samples: Sequence[QualitySample], settings: QualitySettings = QualitySettings(
        model="tcn"), seq: SequenceSettings = SequenceSettings(), trained_on: str = "") -> QualityModel:
    """The ``QualityModel`` of ``assess.quality.train_quality_model`` with a network per movement."""
    if not samples:
        raise InputError("no labelled recordings to train a quality model on")
    regression = all(s.score is not None for s in samples)
    model = QualityModel(settings, "regression" if regression else "classification", samples[0].skeleton,
                         trained_on=trained_on)
    shared = train_sequence_estimator(samples, regression, settings, seq) if seq.pooled else None
    for mv in sorted({str(s.movement) for s in samples}):
        group = [s for s in samples if str(s.movement) == mv]
        y = np.array([s.score if regression else s.label for s in group], dtype=np.float64)
        if not regression and len(np.unique(y)) < 2:
            raise InputError(f"movement {mv}: all {len(group)} recordings are labelled "
                             f"{'correct' if y[0] else 'incorrect'}; a classifier needs both labels")
        est = shared or train_sequence_estimator(group, regression, settings, seq)
        x, names = feature_matrix(group, settings)  # summary features: only for the Deviation rows
        ref = _reference_rows(x, y, regression)
        model.movements[mv] = {"estimator": est, "feature_names": names, "reference_mean": ref.mean(0),
                               "reference_std": ref.std(0), "n_train": len(group),
                               "score_range": (float(y.min()), float(y.max()))}
    return model


def evaluate_loso_seq(samples: Sequence[QualitySample], settings: QualitySettings = QualitySettings(model="tcn"),
                      seq: SequenceSettings = SequenceSettings(), progress: Any = None) -> LosoResult:
    """``loso.evaluate_loso``'s protocol and result with one network per movement and fold (``seq.pooled``:
    one per fold for all movements): the held-out subject is never in training nor in the validation subjects
    that choose the epoch. Metrics per movement on the pooled held-out predictions."""
    result = LosoResult()
    blocks = [list(samples)] if seq.pooled else [[s for s in samples if s.movement == mv]
                                                 for mv in sorted({s.movement for s in samples})]
    p_of: dict[int, float] = {}  # id(sample) -> held-out P(correct)
    for group in blocks:
        y = np.array([s.label for s in group])
        for held, tr, te in loso_splits([s.subject for s in group]):
            if len(np.unique(y[tr])) < 2:
                p_of.update({id(group[i]): float(y[tr].mean()) if len(tr) else 0.5 for i in te})
                continue
            train = [group[i] for i in tr]
            assert all(str(s.subject) != str(held) for s in train)
            est = train_sequence_estimator(train, False, settings, seq)
            p_of.update(zip((id(group[i]) for i in te), est.predict_samples([group[i] for i in te])))
            if progress is not None:
                progress(held)
    for mv in sorted({s.movement for s in samples}):
        group = [s for s in samples if s.movement == mv]
        y = np.array([s.label for s in group])
        record_movement(result, mv, group, y, np.array([p_of[id(s)] for s in group], dtype=np.float64))
    return finish(result)
