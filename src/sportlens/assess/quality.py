"""Learned movement-quality models (issue 7): features, training, saving, applying to a track.

Features (``quality_features``), decided by leave-one-subject-out measurements on UI-PRMD
(``benchmarks/results/bench_quality.md``; the resampled-angle logistic baseline reaches 73.3 %):

1. Body frame (``BodyLayout``): joint positions minus the root (Kinect waist / mid-hip), turned about
   the vertical axis so the hip line lies along x (3-D data only; 2-D video tracks are already in the
   camera's view), divided by the mean torso length (root to chest / mid-shoulders). This removes
   where the subject stood, which way they faced and their size.
2. Start-relative channels: positions and joint angles (where the data has them) minus their mean over
   the first ``start_frames`` frames. What a repetition *does* generalises across subjects far better
   than where each subject's joints sit (measured: 86.0 % with start-relative channels alone against
   82.8 % for the same statistics of absolute channels, logistic regression).
3. Per channel: mean, std, min, max, 10/50/90th percentiles and mean |frame difference| (speed), plus
   the duration in seconds. Summary statistics beat resampled sequences here (78.3 % for 32 resampled
   frames of the same positions): repetitions differ in tempo, and the errors UI-PRMD stages (shallow
   squats, trunk lean, raised hip) show up in extremes and ranges.

Models (``QualitySettings.model``): ``extra_trees`` (scikit-learn ExtraTrees, the default) or
``logistic`` (standardised logistic regression, fast), one per movement. Measured on UI-PRMD LOSO
(mean accuracy / mean AUC over the 10 movements): ExtraTrees 88.8 % / 0.954, logistic 87.0 % / 0.931
on the same features; positions only (no angles) 88.0 % / 0.949; adding 4 time-segment means per
channel 89.1 % / 0.954 or every channel at the peak frame 88.6 % / 0.955 (both off: within the noise
for twice the features); ExtraTrees max_features 0.03 / 0.3: 87.9 % / 0.952 and 88.9 % / 0.954.
Also tried and dropped: a random forest on absolute-channel statistics (85.9 %), one ExtraTrees for
all movements with the movement one-hot as input (10x the data: 89.1 % / 0.957, within the noise of
the per-movement models, which stay because a user's new movement then needs no retraining of the
others; with features standardised per movement 88.0 % / 0.937), and one 1D-CNN for all movements
(3 conv layers over 48 resampled frames of positions, angles and velocities, movement embedding,
30 epochs): 82.8 % mean accuracy over the 8 of 10 folds it finished (about 80 s per fold on the
shared 2 cores). The errors left are per-subject shifts: within
one subject's repetitions the ranking is nearly right (``loso.within_subject_auc``) while a whole
subject's scores sit above or below the others' (e.g. one subject whose correct deep squats look like
the others' incorrect ones). Continuous labels (scores) train the regression counterpart
(ExtraTreesRegressor / Ridge).

Saved model format (``save_quality_model``): a pickle of a dict ``{"format": 1, "kind":
"sportlens-quality-model", "settings", "task" ("classification"|"regression"), "skeleton",
"movements": {movement: {"estimator", "feature_names", "reference_mean", "reference_std", "n_train",
"score_range"}}, "trained_on", "created", "sportlens_version"}``. It is not a torch model, so
``engine/checkpoint.py`` does not apply; like every pickle, load only files you trust.
``reference_mean/std`` are the feature statistics of the *correct* (or top-half score) training
repetitions: ``apply_quality_model`` reports the features furthest from them as ``Deviation`` rows.
"""
from __future__ import annotations

import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sportlens import __version__
from sportlens.assess.deviations import Deviation
from sportlens.data.ui_prmd import KINECT22_JOINTS, QualitySample
from sportlens.errors import InputError
from sportlens.fsutil import atomic_write

FORMAT = 1
KIND = "sportlens-quality-model"
STATS = ("mean", "std", "min", "max", "p10", "p50", "p90", "speed")


@dataclass(frozen=True)
class QualitySettings:
    """Every knob of the quality features and models, with the measured defaults."""

    start_frames: int = 3  # frames averaged for the start pose
    use_angles: bool = True  # add start-relative joint angles where the data has them
    segments: int = 0  # also the channel means over this many equal time segments (0 = off)
    peak: bool = False  # also every channel at the peak frame (largest position change from the start)
    model: str = "extra_trees"  # extra_trees | logistic
    n_trees: int = 300
    max_features: float = 0.1  # fraction of features per split (ExtraTrees)
    c: float = 0.1  # logistic inverse regularisation
    max_missing: float = 0.3  # refuse a recording with more missing joint-frames than this
    seed: int = 0

    def __post_init__(self) -> None:
        if self.model not in ("extra_trees", "logistic"):
            raise ValueError(f"model must be extra_trees or logistic, got {self.model!r}")
        if self.start_frames < 1 or self.n_trees < 1 or not 0 < self.max_features <= 1:
            raise ValueError(f"bad settings {self}")


@dataclass(frozen=True)
class BodyLayout:
    """Joint indices that define the body frame of one skeleton layout."""

    joints: tuple[str, ...]
    root: tuple[int, ...]  # averaged: the origin
    top: tuple[int, ...]  # averaged: torso top, its distance to the root is the unit length
    left_hip: int
    right_hip: int


def body_layout(skeleton: str) -> BodyLayout:
    """``kinect22`` (UI-PRMD) or any layout of ``sportlens.skeletons`` with hips and shoulders."""
    if skeleton == "kinect22":
        return BodyLayout(KINECT22_JOINTS, (0,), (2,), 14, 18)
    from sportlens.skeletons import get_skeleton

    try:
        sk = get_skeleton(skeleton)
        lh, rh = sk.index("left_hip"), sk.index("right_hip")
        top = (sk.index("left_shoulder"), sk.index("right_shoulder"))
    except KeyError as e:
        raise InputError(f"skeleton {skeleton!r}: {e.args[0]}; quality features need a layout with hips "
                         "and shoulders (kinect22, penn13, coco17, blazepose33)") from None
    return BodyLayout(sk.joints, (lh, rh), top, lh, rh)


def _fill_missing(x: np.ndarray, where: str, max_missing: float) -> np.ndarray:
    """Linear interpolation over time of NaN joint coordinates; refuses too sparse data."""
    missing = ~np.isfinite(x).all(axis=-1)  # (T, V)
    if missing.mean() > max_missing:
        raise InputError(f"{where}: {100 * missing.mean():.0f} % of the joint positions are missing (more than "
                         f"{100 * max_missing:.0f} %); a quality score would not be supported by the data. "
                         "Use a recording where the whole body is visible")
    flat = x.reshape(len(x), -1).copy()
    t = np.arange(len(x))
    for c in range(flat.shape[1]):
        ok = np.isfinite(flat[:, c])
        flat[:, c] = np.interp(t, t[ok], flat[ok, c]) if ok.any() else 0.0
    return flat.reshape(x.shape)


def normalize_positions(positions: np.ndarray, layout: BodyLayout) -> np.ndarray:
    """(T, V, C) -> (T, V, C) body-centred, facing-aligned (C = 3), torso-length units."""
    p = np.asarray(positions, dtype=np.float64)
    p = p - p[:, list(layout.root)].mean(axis=1, keepdims=True)
    if p.shape[-1] == 3:  # turn about the vertical (y) axis: hip line along +x
        hip = (p[:, layout.right_hip] - p[:, layout.left_hip]).mean(axis=0)
        a = np.arctan2(hip[2], hip[0])
        rot = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
        p = p @ rot.T
    torso = np.linalg.norm(p[:, list(layout.top)].mean(axis=1), axis=-1).mean()
    if not np.isfinite(torso) or torso <= 1e-9:
        raise InputError("the torso has zero length in every frame (root and shoulders/chest coincide); "
                         "the keypoints are degenerate")
    return p / torso


def _summary(z: np.ndarray) -> np.ndarray:
    """(T, K) channels -> (len(STATS) * K,) statistics, in ``STATS`` order."""
    q = np.percentile(z, [10, 50, 90], axis=0)
    speed = np.abs(np.diff(z, axis=0)).mean(axis=0) if len(z) > 1 else np.zeros(z.shape[1])
    return np.concatenate([z.mean(0), z.std(0), z.min(0), z.max(0), q[0], q[1], q[2], speed])


def channel_names(layout: BodyLayout, dims: int, with_angles: bool) -> list[str]:
    axes = "xyz"[:dims]
    # the channels are changes from the start pose (quality_features), and the names say so
    names = [f"{j} position {a} from start" for j in layout.joints for a in axes]
    if with_angles:
        names += [f"{j} angle {a} from start" for j in layout.joints for a in "xyz"]
    return names


def quality_features(sample: QualitySample, settings: QualitySettings = QualitySettings()
                     ) -> tuple[np.ndarray, list[str]]:
    """One repetition -> (features (F,), names (F,)); see the module docstring."""
    pos = np.asarray(sample.positions, dtype=np.float64)
    where = sample.source or f"movement {sample.movement}, subject {sample.subject}"
    if pos.ndim != 3 or pos.shape[-1] not in (2, 3) or len(pos) < 2:
        raise InputError(f"{where}: positions must be (T >= 2, V, 2 or 3), got {pos.shape}")
    layout = body_layout(sample.skeleton)
    if pos.shape[1] != len(layout.joints):
        raise InputError(f"{where}: {pos.shape[1]} joints but skeleton {sample.skeleton!r} has {len(layout.joints)}")
    pos = normalize_positions(_fill_missing(pos, where, settings.max_missing), layout)
    n0 = min(settings.start_frames, len(pos))
    chans = [(pos - pos[:n0].mean(axis=0)).reshape(len(pos), -1)]  # (T, V*C)
    with_angles = settings.use_angles and sample.angles is not None
    if with_angles:
        ang = np.asarray(sample.angles, dtype=np.float64)
        if ang.shape != (len(pos), len(layout.joints), 3):
            raise InputError(f"{where}: angles {ang.shape} do not match positions {sample.positions.shape}")
        chans.append((ang - ang[:n0].mean(axis=0)).reshape(len(ang), -1))
    z = np.concatenate(chans, axis=1)  # (T, K)
    cnames = channel_names(layout, pos.shape[-1], with_angles)
    names = [f"{s} {c}" for s in STATS for c in cnames]
    parts = [_summary(z)]
    if settings.segments:
        edges = np.linspace(0, len(z), settings.segments + 1).round().astype(int)
        parts += [z[a:max(b, a + 1)].mean(0) for a, b in zip(edges[:-1], edges[1:])]
        names += [f"segment {k + 1}/{settings.segments} mean {c}" for k in range(settings.segments) for c in cnames]
    if settings.peak:  # the whole body at one moment: e.g. the trunk lean at the bottom of a squat
        peak = int(np.argmax(np.linalg.norm(chans[0], axis=1)))
        parts.append(z[peak])
        names += [f"at peak {c}" for c in cnames]
    return np.concatenate(parts + [[len(pos) / sample.fps]]), names + ["duration s"]


def feature_matrix(samples: Sequence[QualitySample], settings: QualitySettings = QualitySettings()
                   ) -> tuple[np.ndarray, list[str]]:
    """(N, F) features of ``samples`` (all of one skeleton and channel set) and their names."""
    if not samples:
        raise InputError("no recordings to compute quality features from")
    rows = [quality_features(s, settings) for s in samples]
    names = rows[0][1]
    bad = [s.source or str(i) for i, (s, r) in enumerate(zip(samples, rows)) if r[1] != names]
    if bad:
        raise InputError(f"recordings {', '.join(bad[:3])} have other joints/channels than the first one; "
                         "train on recordings of one skeleton layout, all with or all without angles")
    return np.stack([r[0] for r in rows]), names


# ----------------------------------------------------------------------------- estimators
def make_estimator(settings: QualitySettings = QualitySettings(), regression: bool = False):
    """A fresh scikit-learn estimator for one movement (``fit``, ``predict_proba`` / ``predict``)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if settings.model == "extra_trees":
        from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

        cls = ExtraTreesRegressor if regression else ExtraTreesClassifier
        return cls(n_estimators=settings.n_trees, max_features=settings.max_features, n_jobs=1,
                   random_state=settings.seed)
    from sklearn.linear_model import LogisticRegression, Ridge

    last = Ridge(alpha=1.0 / settings.c) if regression else LogisticRegression(C=settings.c, max_iter=3000)
    return make_pipeline(StandardScaler(), last)


# ----------------------------------------------------------------------------- training / saving
@dataclass
class QualityModel:
    """Trained per-movement estimators plus what ``apply_quality_model`` needs (module docstring)."""

    settings: QualitySettings
    task: str  # classification | regression
    skeleton: str
    movements: dict[str, dict[str, Any]] = field(default_factory=dict)
    trained_on: str = ""

    def entry(self, movement: int | str | None) -> tuple[str, dict[str, Any]]:
        if movement is None:
            if len(self.movements) != 1:
                raise InputError(f"this quality model covers movements {', '.join(self.movements)}; "
                                 "say which one the recording is")
            movement = next(iter(self.movements))
        key = str(movement)
        if key not in self.movements:
            raise InputError(f"this quality model has no movement {key!r}; it knows {', '.join(self.movements)}")
        return key, self.movements[key]


def _reference_rows(x: np.ndarray, y: np.ndarray, regression: bool) -> np.ndarray:
    """The 'good' training repetitions: correct ones, or those in the upper half of the scores."""
    good = y >= np.median(y) if regression else y == 1
    return x[good] if good.any() else x


def train_quality_model(samples: Sequence[QualitySample], settings: QualitySettings = QualitySettings(),
                        trained_on: str = "") -> QualityModel:
    """One estimator per movement on all ``samples``; regression where every sample has a ``score``."""
    if not samples:
        raise InputError("no labelled recordings to train a quality model on")
    regression = all(s.score is not None for s in samples)
    model = QualityModel(settings, "regression" if regression else "classification", samples[0].skeleton,
                         trained_on=trained_on)
    for mv in sorted({str(s.movement) for s in samples}):
        group = [s for s in samples if str(s.movement) == mv]
        x, names = feature_matrix(group, settings)
        y = np.array([s.score if regression else s.label for s in group], dtype=np.float64)
        if not regression and len(np.unique(y)) < 2:
            raise InputError(f"movement {mv}: all {len(group)} recordings are labelled "
                             f"{'correct' if y[0] else 'incorrect'}; a classifier needs both labels")
        est = make_estimator(settings, regression)
        est.fit(x, y if regression else y.astype(int))
        ref = _reference_rows(x, y, regression)
        model.movements[mv] = {"estimator": est, "feature_names": names, "reference_mean": ref.mean(0),
                               "reference_std": ref.std(0), "n_train": len(group),
                               "score_range": (float(y.min()), float(y.max()))}
    return model


def save_quality_model(model: QualityModel, path: str | Path) -> Path:
    """Write the model atomically (format in the module docstring)."""
    blob = {"format": FORMAT, "kind": KIND, "settings": asdict(model.settings), "task": model.task,
            "skeleton": model.skeleton, "movements": model.movements, "trained_on": model.trained_on,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "sportlens_version": __version__}

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            pickle.dump(blob, f, protocol=pickle.HIGHEST_PROTOCOL)

    atomic_write(path, write)
    return Path(path)


def load_quality_model(path: str | Path) -> QualityModel:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: quality model not found; train one with `sportlens train-quality`")
    try:
        with open(path, "rb") as f:
            blob = pickle.load(f)
    except Exception as e:  # noqa: BLE001 - any unpickling error means the same to the user
        raise InputError(f"{path}: not a readable sportlens quality model ({type(e).__name__}); "
                         "re-train it with `sportlens train-quality`") from None
    if not isinstance(blob, dict) or blob.get("kind") != KIND or blob.get("format") != FORMAT:
        raise InputError(f"{path}: not a sportlens quality model (format {FORMAT}); "
                         "re-train it with `sportlens train-quality`")
    return QualityModel(QualitySettings(**blob["settings"]), blob["task"], blob["skeleton"], blob["movements"],
                        blob.get("trained_on", ""))


# ----------------------------------------------------------------------------- applying
@dataclass
class QualityResult:
    """``score``: P(correct) x 100 (classification) or the predicted score (regression)."""

    movement: str
    score: float
    task: str
    deviations: list[Deviation]

    def to_dict(self) -> dict[str, Any]:
        return {"movement": self.movement, "score": self.score, "task": self.task,
                "deviations": [d.to_dict() for d in self.deviations]}


def _as_sample(data: Any, skeleton: str) -> QualitySample:
    """A ``QualitySample`` or a ``PoseTrack`` (converted to the model's layout) -> a sample."""
    if isinstance(data, QualitySample):
        return data
    from sportlens.types import AngleTable, PoseTrack

    if isinstance(data, AngleTable):
        raise InputError("an angle table alone is not enough for this quality model: it needs joint positions "
                         "(pass the PoseTrack the angles were computed from)")
    if not isinstance(data, PoseTrack):
        raise InputError(f"cannot assess a {type(data).__name__}: pass a PoseTrack or a QualitySample")
    if skeleton == "kinect22":
        raise InputError("this quality model was trained on 3-D Kinect skeletons (UI-PRMD) and cannot score a 2-D "
                         "video track; train one on your own recordings with `sportlens train-quality --dataset "
                         "folder`")
    from sportlens.skeletons import convert

    kp, _ = convert(data.keypoints, data.scores, data.skeleton, skeleton)  # (T, V, 2)
    dt = np.diff(data.times)
    fps = float(1.0 / np.median(dt)) if len(dt) and np.median(dt) > 0 else 30.0
    return QualitySample("", "", 0, True, kp, None, source="track", skeleton=skeleton, fps=fps)


def _deviations(x: np.ndarray, entry: dict[str, Any], fps: float, n_frames: int,
                top_k: int) -> list[Deviation]:
    """Features furthest from the good training repetitions, tolerance = 2 standard deviations."""
    names, mean, std = entry["feature_names"], entry["reference_mean"], entry["reference_std"]
    z = np.abs(x - mean) / np.maximum(2.0 * std, 1e-9)
    rows = []
    for i in np.argsort(-z)[:top_k]:
        if z[i] < 1.0:
            break
        unit = "deg" if " angle " in names[i] else ("s" if names[i].endswith(" s") else "torso")
        rows.append(Deviation(quantity=names[i], kind="quality", value=float(x[i]), reference=float(mean[i]),
                              unit=unit, time_s=0.5 * n_frames / fps, severity=float(z[i]),
                              source="quality-model"))
    return rows


def apply_quality_model(path: str | Path | QualityModel, track_or_sample: Any, movement: int | str | None = None,
                        top_k: int = 5) -> QualityResult:
    """Score one repetition and list its largest deviations from the good training repetitions.

    ``track_or_sample``: a ``QualitySample`` (e.g. a UI-PRMD repetition) or a ``PoseTrack`` in any layout
    convertible to the model's. ``Deviation.time_s`` is the middle of the recording (the features are
    whole-repetition statistics, so no single moment is singled out).
    """
    model = path if isinstance(path, QualityModel) else load_quality_model(path)
    key, entry = model.entry(movement)
    sample = _as_sample(track_or_sample, model.skeleton)
    x, names = quality_features(sample, model.settings)
    if names != entry["feature_names"]:
        raise InputError(f"the recording gives {len(names)} features, the model was trained on "
                         f"{len(entry['feature_names'])}: use data of the model's layout ({model.skeleton}) "
                         "with the same channels (angles or not)")
    est = entry["estimator"]
    if model.task == "regression":
        score = float(est.predict(x[None])[0])
    else:
        score = 100.0 * float(est.predict_proba(x[None])[0, 1])
    return QualityResult(key, score, model.task, _deviations(x, entry, sample.fps, len(sample.positions), top_k))


# ----------------------------------------------------------------------------- a user's own recordings
LABEL_COLUMNS = ("clip", "label", "subject", "movement")
_CORRECT = {"correct": True, "good": True, "1": True, "incorrect": False, "bad": False, "0": False}


def _parse_labels(labels: list[str], where: Path) -> tuple[list[bool], list[float] | None]:
    """correct/incorrect words -> classification; numbers (other than only 0/1) -> regression."""
    words = [str(v).strip().lower() for v in labels]
    if all(w in _CORRECT for w in words):
        return [_CORRECT[w] for w in words], None
    try:
        scores = [float(w) for w in words]
    except ValueError:
        bad = next(w for w in words if w not in _CORRECT)
        raise InputError(f"{where}: label {bad!r} is neither correct/incorrect nor a number; "
                         "use one kind of label for every clip") from None
    if not np.isfinite(scores).all():
        raise InputError(f"{where}: non-finite score label")
    mid = (min(scores) + max(scores)) / 2
    return [s >= mid for s in scores], scores


def load_labelled_recordings(folder: str | Path, skeleton: str = "penn13") -> list[QualitySample]:
    """A folder with ``labels.csv`` (``clip,label,subject,movement``; label correct/incorrect or a number)
    and ``<clip>.npz`` / ``<clip>.parquet`` keypoints in the generic skeleton-dataset formats
    (``sportlens.data.skeleton_dataset``, whose readers do the work); every clip is converted to
    ``skeleton``. A ``split`` column is not needed (LOSO splits by subject)."""
    import pandas as pd

    from sportlens.data.skeleton_dataset import _load_item, _read_labels

    folder = Path(folder)
    if not (folder / "labels.csv").is_file():
        _read_labels(folder)  # raises the dataset's own clear error
    df = pd.read_csv(folder / "labels.csv", dtype=str, keep_default_na=False)
    missing = [c for c in LABEL_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{folder / 'labels.csv'}: missing column(s) {', '.join(missing)}; a quality dataset "
                         f"needs {','.join(LABEL_COLUMNS)}")
    if df.empty:
        raise InputError(f"{folder / 'labels.csv'}: lists no clip")
    correct, scores = _parse_labels(df["label"].tolist(), folder / "labels.csv")
    out = []
    for i, row in enumerate(df.to_dict("records")):
        clip = _load_item(folder, {**row, "split": "train"}, skeleton)
        out.append(QualitySample(row["movement"], row["subject"], i, correct[i], clip.keypoints, None,
                                 source=str(folder / row["clip"]), skeleton=skeleton, fps=clip.fps,
                                 score=None if scores is None else scores[i]))
    return out
