"""Training-free quality baseline on UI-PRMD: DTW distance to correct repetitions of OTHER subjects (issue 7).

Each repetition of a movement is scored by how close it is, after dynamic time warping, to the correct
repetitions of the same movement performed by the *other* subjects (leave-one-subject-out honesty: the
repetition's own subject never serves as a reference, so the score cannot come from recognising a person).

    score(x) = - mean of the K smallest  DTW(x, c) / (len(x) + len(c))   over correct c of other subjects

Higher = closer to good form; ROC AUC of that score against the correct (1) / incorrect (0) labels is reported
per movement (pooled over subjects) with the mean over movements, like ``assess.loso``.

Trajectories compared (``FEATURES``, default ``DEFAULT_FEATURES``), all from the loader's absolute Kinect
positions (``sportlens.data.ui_prmd``, forward kinematics), per frame:

- ``angles``: 3-D joint angles in degrees, the same quantities ``sportlens.kinematics`` measures in 2-D
  (elbow, shoulder, hip and knee flexion per side, trunk lean from the vertical) plus the arm's and thigh's
  elevation from the vertical and the forearm's direction in the horizontal plane (shoulder rotation moves
  only that) -- 15 channels;
- ``positions``: all 22 joints relative to the waist, in units of the subject's median waist-to-head
  distance (scale and position normalised) -- 66 channels.

Default: ``positions`` with K = 5 (measured on the official files: mean AUC 0.859 against 0.716 for
``angles``; K = 1, 3, 10 give 0.858-0.859, the mean over all correct repetitions 0.762).

DTW: ``sportlens.assess.compare.dtw_distances`` (numpy, batched; see that module for why not a library).
Nothing is fitted, but the feature set and K were chosen by comparing a few on this same data (the numbers
of every variant tried are in benchmarks/results/bench_dtw_baseline.md): read the AUC as that of a tuned
training-free baseline.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from sportlens.assess.compare import dtw_distances
from sportlens.data.ui_prmd import KINECT22_JOINTS, QualitySample

DEFAULT_FEATURES = "positions"
DEFAULT_K = 5
_J = {n: i for i, n in enumerate(KINECT22_JOINTS)}
UP = np.array([0.0, 1.0, 0.0])  # Kinect camera frame: y up


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(T,) degrees between (T, 3) vectors."""
    cross = np.linalg.norm(np.cross(u, v), axis=-1)
    return np.degrees(np.arctan2(cross, (u * v).sum(-1)))


def angle_features(positions: np.ndarray) -> np.ndarray:
    """(T, 22, 3) absolute positions -> (T, 15) joint angles in degrees (module docstring)."""
    p = np.asarray(positions, dtype=np.float64)

    def j(name: str) -> np.ndarray:
        return p[:, _J[name]]

    trunk_up = j("neck") - j("waist")
    cols = [_angle(trunk_up, np.broadcast_to(UP, trunk_up.shape))]
    for s in ("left", "right"):
        sh, el, wr = j(f"{s}_upper_arm"), j(f"{s}_forearm"), j(f"{s}_hand")
        hip, knee, ank = j(f"{s}_upper_leg"), j(f"{s}_lower_leg"), j(f"{s}_foot")
        fore = wr - el
        cols += [
            180.0 - _angle(sh - el, wr - el),            # elbow flexion
            _angle(-trunk_up, el - sh),                  # shoulder flexion/abduction (arm vs trunk)
            180.0 - _angle(trunk_up, knee - hip),        # hip flexion
            180.0 - _angle(hip - knee, ank - knee),      # knee flexion
            _angle(-np.broadcast_to(UP, fore.shape), el - sh),   # upper-arm elevation
            _angle(-np.broadcast_to(UP, fore.shape), knee - hip),  # thigh elevation
            np.degrees(np.unwrap(np.arctan2(fore[:, 0], fore[:, 2]))),  # forearm heading (horizontal plane)
        ]
    return np.stack(cols, axis=1)


def position_features(positions: np.ndarray) -> np.ndarray:
    """(T, 22, 3) -> (T, 66): joints relative to the waist over the median waist-to-head distance."""
    p = np.asarray(positions, dtype=np.float64)
    rel = p - p[:, _J["waist"]][:, None]
    scale = float(np.median(np.linalg.norm(rel[:, _J["head"]], axis=-1)))
    return (rel / max(scale, 1e-6)).reshape(len(p), -1)


FEATURES = {"angles": angle_features, "positions": position_features}


def distance_matrix(group: Sequence[QualitySample], features: str = DEFAULT_FEATURES) -> tuple[np.ndarray, np.ndarray]:
    """(n, c) DTW distances of every repetition of one movement to each correct one, and the (c,) indices of
    the correct ones in ``group``. A repetition's distance to itself is inf."""
    feat = [FEATURES[features](s.positions) for s in group]
    correct = np.array([k for k, s in enumerate(group) if s.correct])
    refs = [feat[k] for k in correct]
    dist = np.stack([dtw_distances(f, refs) for f in feat])  # (n, c)
    for col, k in enumerate(correct):
        dist[k, col] = np.inf
    return dist, correct


def scores_from_distances(group: Sequence[QualitySample], dist: np.ndarray, correct: np.ndarray,
                          k: int = DEFAULT_K) -> np.ndarray:
    """(n,) score = - mean of the k smallest distances to correct repetitions of other subjects."""
    subj = np.array([s.subject for s in group])
    out = np.full(len(group), np.nan)
    for q in range(len(group)):
        d = dist[q, subj[correct] != subj[q]]
        d = np.sort(d[np.isfinite(d)])
        if d.size:
            out[q] = -float(d[: max(1, k)].mean())
    return out


def dtw_baseline(samples: Sequence[QualitySample], *, features: str = DEFAULT_FEATURES, k: int = DEFAULT_K,
                 return_scores: bool = False) -> dict[str, Any]:
    """Per-movement ROC AUC of the DTW-to-correct-references score, and their mean.

    Returns ``{"per_movement": {movement: {"auc", "n"}}, "mean_auc", "features", "k", "method"}`` (plus
    ``"scores"``: movement -> list of (subject, episode, correct, score) with ``return_scores``).
    """
    if features not in FEATURES:
        raise ValueError(f"unknown features {features!r}; known: {', '.join(FEATURES)}")
    out: dict[str, Any] = {"per_movement": {}, "features": features, "k": k,
                           "method": "score = -mean of the k smallest length-normalised DTW distances to the "
                                     "correct repetitions of the same movement by other subjects; ROC AUC per "
                                     "movement"}
    scores: dict[int, list] = {}
    for mv in sorted({s.movement for s in samples}):
        group = [s for s in samples if s.movement == mv]
        dist, correct = distance_matrix(group, features)
        sc = scores_from_distances(group, dist, correct, k)
        y = np.array([s.label for s in group])
        ok = np.isfinite(sc)
        auc = float(roc_auc_score(y[ok], sc[ok])) if len(np.unique(y[ok])) == 2 else float("nan")
        out["per_movement"][mv] = {"auc": auc, "n": int(ok.sum())}
        scores[mv] = [(s.subject, s.episode, bool(s.correct), float(v)) for s, v in zip(group, sc)]
    aucs = [r["auc"] for r in out["per_movement"].values()]
    out["mean_auc"] = float(np.nanmean(aucs)) if aucs else float("nan")
    if return_scores:
        out["scores"] = scores
    return out


def table(result: dict[str, Any]) -> str:
    lines = ["| movement | repetitions | DTW baseline AUC |", "|---|---|---|"]
    for m, r in sorted(result["per_movement"].items()):
        lines.append(f"| m{int(m):02d} | {r['n']} | {r['auc']:.3f} |")
    lines.append(f"| **mean** | | **{result['mean_auc']:.3f}** |")
    return "\n".join(lines)
