"""Leave-one-subject-out (LOSO) evaluation of correct-vs-incorrect quality classifiers (issue 7).

Protocol: for every movement separately, each subject in turn is the test set and a fresh classifier
is trained on all other subjects' repetitions of that movement (correct and incorrect): the same
subject is never in train and test. Predictions of all folds are pooled per movement; accuracy
(threshold 0.5 on P(correct)) and ROC AUC (scikit-learn) are computed on the pooled predictions, and
their means over movements are reported.

Pluggable classifier: any factory returning an object with ``fit(X, y)`` and ``predict_proba(X)``
(scikit-learn style; column 1 = P(correct)) over features built by a ``featurize`` callable
``QualitySample -> 1-D array``. A factory with ``uses_feature_names = True`` is called with the
featurizer's ``names`` attribute (the learned model's view ensemble needs them).

Quick baseline (``angle_features`` + ``logistic_baseline``): all 22 x 3 Kinect joint angles (degrees;
the always-zero end-site/neck columns drop out through the scaler), each of the 66 channels resampled
by linear interpolation to ``RESAMPLE_LEN`` = 32 frames over the repetition's normalised time, flattened
(2112 features), standardised (``StandardScaler`` fitted on the training folds only), then
``LogisticRegression(C=BASELINE_C, max_iter=2000)``. On the official files this gives 73.3 % mean
accuracy, mean AUC 0.814 (issue 7 quotes 73.4 % / 0.818); it is insensitive to the recipe's knobs
(measured: C 0.1 -> 73.5 % / 0.816, C 0.01 -> 73.8 % / 0.818, 16 frames 73.1 % / 0.812, 64 frames
73.0 % / 0.812).

Learned quality model (``quality_featurize`` + ``quality_classifier``; features and estimator in
``sportlens.assess.quality``): per movement, three equally weighted members, P(correct) averaged: the
ExtraTrees of the four summary views (start-relative body-frame channels, bone directions, peak-normalised
shape, left/right symmetry) averaged, an ExtraTrees on Fourier harmonics, and MiniRocket + logistic
regression on the resampled sequence (``sportlens.assess.rocket``; its kernels' biases come from training
sequences of the fold only). The
featurizer keeps the feature names of its last call and ``evaluate_loso`` hands them to a factory that
says ``uses_feature_names`` (the ensemble splits its columns by view with them); the features depend on
one recording at a time, so nothing about the held-out subject's other recordings (nor their label mix,
10 correct / 10 incorrect per subject in UI-PRMD) reaches its scores. Settings are fixed before the folds
run (no per-fold tuning, so no model selection ever sees the held-out subject); the views were designed on
the pooled LOSO results of this data (``sportlens.assess.quality`` module docstring), and the benchmark
reports the default beside a fixed list of variants.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score

from sportlens.assess.quality import QualitySettings, fit_estimator, make_estimator, quality_features
from sportlens.data.exercise_correction import FormFrames, frame_features
from sportlens.data.ui_prmd import QualitySample

RESAMPLE_LEN = 32
BASELINE_C = 1.0


class Classifier(Protocol):
    def fit(self, x: np.ndarray, y: np.ndarray) -> Any: ...

    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


def loso_splits(subjects: Sequence[int | str]) -> list[tuple[int | str, np.ndarray, np.ndarray]]:
    """(held-out subject, train indices, test indices) per subject; train never holds that subject."""
    subj = np.asarray([str(s) for s in subjects])
    out = []
    for s in np.unique(subj):
        tr, te = np.flatnonzero(subj != s), np.flatnonzero(subj == s)
        if set(subj[tr]) & set(subj[te]):  # cannot happen by construction; a guard against edits
            raise AssertionError(f"subject {s} in both train and test")
        orig = subjects[int(te[0])]
        out.append((int(orig) if isinstance(orig, (int, np.integer)) else orig, tr, te))
    return out


def resample(seq: np.ndarray, length: int = RESAMPLE_LEN) -> np.ndarray:
    """(T, ...) -> (length, ...) by linear interpolation over normalised time."""
    seq = np.asarray(seq, dtype=np.float64)
    flat = seq.reshape(len(seq), -1)
    src = np.linspace(0.0, 1.0, len(seq))
    dst = np.linspace(0.0, 1.0, length)
    out = np.stack([np.interp(dst, src, flat[:, c]) for c in range(flat.shape[1])], axis=1)
    return out.reshape((length,) + seq.shape[1:])


def angle_features(sample: QualitySample, length: int = RESAMPLE_LEN) -> np.ndarray:
    """The baseline's features: all joint angles resampled to ``length`` frames, flattened."""
    return resample(sample.angles, length).ravel()


def logistic_baseline(c: float = BASELINE_C) -> Classifier:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))


class QualityFeaturizer:
    """The learned model's features (``assess.quality.quality_features``) as a ``featurize`` callable; it
    keeps the feature names of the last call in ``names`` (the multi-view ensemble splits its columns by them)."""

    def __init__(self, settings: QualitySettings = QualitySettings()):
        self.settings = settings
        self.names: list[str] | None = None

    def __call__(self, sample: QualitySample) -> np.ndarray:
        x, self.names = quality_features(sample, self.settings)
        return x


class QualityClassifierFactory:
    """Factory of the learned model's estimator (``assess.quality.make_estimator``); ``evaluate_loso`` passes
    the featurizer's names (``uses_feature_names``)."""

    uses_feature_names = True

    def __init__(self, settings: QualitySettings = QualitySettings()):
        self.settings = settings

    def __call__(self, feature_names: Sequence[str] | None = None) -> Classifier:
        return make_estimator(self.settings, feature_names=feature_names)


def quality_featurize(settings: QualitySettings = QualitySettings()) -> QualityFeaturizer:
    return QualityFeaturizer(settings)


def quality_classifier(settings: QualitySettings = QualitySettings()) -> QualityClassifierFactory:
    return QualityClassifierFactory(settings)


def binary_metrics(y_true: np.ndarray, p_correct: np.ndarray) -> tuple[float, float]:
    """(accuracy at 0.5, ROC AUC); AUC is NaN when only one class is present."""
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p_correct, dtype=np.float64)
    acc = float(accuracy_score(y, (p >= 0.5).astype(int)))
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")
    return acc, auc


def movement_name(m: int | str) -> str:
    """UI-PRMD movement 3 -> "m03"; a user's movement name as it is."""
    return f"m{int(m):02d}" if isinstance(m, (int, np.integer)) else str(m)


def within_subject_auc(subjects: Sequence[int | str], y_true: np.ndarray, p_correct: np.ndarray) -> float:
    """Mean over subjects of the ROC AUC among that subject's own held-out repetitions (NaN if none has both
    labels). A diagnostic: it ignores shifts of a whole subject's scores, which the pooled AUC and the
    0.5 threshold pay for; the gap between the two shows how much of the error is per-subject calibration."""
    subj = np.asarray([str(s) for s in subjects])
    aucs = [binary_metrics(y_true[subj == s], p_correct[subj == s])[1] for s in np.unique(subj)]
    aucs = [a for a in aucs if np.isfinite(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


@dataclass
class LosoResult:
    per_movement: dict[int, dict[str, float]] = field(default_factory=dict)  # movement -> accuracy, auc, n
    mean_accuracy: float = float("nan")
    mean_auc: float = float("nan")
    mean_within_subject_auc: float = float("nan")
    # movement -> (subject, episode, label, P(correct)) per repetition, from the fold that held it out
    predictions: dict[int, list[tuple[Any, int, int, float]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        lines = ["| movement | repetitions | accuracy | AUC | within-subject AUC |", "|---|---|---|---|---|"]
        for m, r in sorted(self.per_movement.items()):
            lines.append(f"| {movement_name(m)} | {int(r['n'])} | {100 * r['accuracy']:.1f} % | {r['auc']:.3f} | "
                         f"{r['within_subject_auc']:.3f} |")
        lines.append(f"| **mean** | | **{100 * self.mean_accuracy:.1f} %** | **{self.mean_auc:.3f}** | "
                     f"{self.mean_within_subject_auc:.3f} |")
        return "\n".join(lines)


def evaluate_loso(samples: Sequence[QualitySample],
                  make_classifier: Callable[[], Classifier] = logistic_baseline,
                  featurize: Callable[[QualitySample], np.ndarray] = angle_features) -> LosoResult:
    """Per-movement LOSO evaluation (module docstring)."""
    result = LosoResult()
    movements = sorted({s.movement for s in samples})
    for mv in movements:
        group = [s for s in samples if s.movement == mv]
        x = np.stack([featurize(s) for s in group])
        names = getattr(featurize, "names", None)  # features depend on one recording at a time only
        y = np.array([s.label for s in group])
        p = np.full(len(group), np.nan)
        for _, tr, te in loso_splits([s.subject for s in group]):
            if len(np.unique(y[tr])) < 2:  # cannot train on one class: predict the training prior
                p[te] = float(y[tr].mean()) if len(tr) else 0.5
                continue
            clf = make_classifier(names) if getattr(make_classifier, "uses_feature_names", False) else make_classifier()
            fit_estimator(clf, x[tr], y[tr], [group[i].subject for i in tr])  # subjects: quality.subject_shift
            p[te] = clf.predict_proba(x[te])[:, 1]
        record_movement(result, mv, group, y, p)
    return finish(result)


def record_movement(result: LosoResult, mv, group: Sequence, y: np.ndarray, p: np.ndarray) -> None:
    """Store one movement's pooled held-out predictions ``p`` (P(correct)) and their metrics in ``result``."""
    acc, auc = binary_metrics(y, p)
    result.per_movement[mv] = {"accuracy": acc, "auc": auc, "n": float(len(group)),
                               "within_subject_auc": within_subject_auc([s.subject for s in group], y, p)}
    result.predictions[mv] = [(s.subject, s.episode, int(lab), float(q)) for s, lab, q in zip(group, y, p)]


def finish(result: LosoResult) -> LosoResult:
    """The means over movements (accuracy, AUC, within-subject AUC)."""
    if result.per_movement:
        result.mean_accuracy = float(np.mean([r["accuracy"] for r in result.per_movement.values()]))
        result.mean_auc = float(np.nanmean([r["auc"] for r in result.per_movement.values()]))
        result.mean_within_subject_auc = float(np.nanmean([r["within_subject_auc"]
                                                           for r in result.per_movement.values()]))
    return result


# ----------------------------------------------------------------------------- exercise-correction frames
FORM_FOLDS = 5


def evaluate_form_frames(frames: FormFrames, settings: QualitySettings = QualitySettings(),
                         n_splits: int = FORM_FOLDS) -> dict[str, Any]:
    """Per-frame form-error classification, ``GroupKFold`` over recording segments
    (``data.exercise_correction.segment_rows``): frames of one segment are never in train and test.
    Pooled out-of-fold predictions -> accuracy, balanced accuracy, macro F1, confusion matrix."""
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score
    from sklearn.model_selection import GroupKFold

    x, y, groups = frame_features(frames), frames.labels, frames.segments
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError(f"{frames.source}: one segment only; a split by segment needs at least 2")
    pred = np.empty(len(y), dtype=object)
    for tr, te in GroupKFold(n_splits=min(n_splits, n_groups)).split(x, y, groups):
        if set(groups[tr]) & set(groups[te]):
            raise AssertionError("a segment in both train and test")
        if len(np.unique(y[tr])) < 2:  # one class only: predict it
            pred[te] = y[tr][0]
            continue
        pred[te] = make_estimator(settings).fit(x[tr], y[tr]).predict(x[te])
    classes = sorted(np.unique(y))
    return {"task": frames.task, "frames": int(len(y)), "segments": n_groups, "counts": frames.counts,
            "accuracy": float(np.mean(pred == y)), "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
            "macro_f1": float(f1_score(y, pred, average="macro")), "classes": classes,
            "confusion": confusion_matrix(y, pred.astype(str), labels=classes).tolist()}
