"""Name the movement: a trained skeleton model over sliding windows of a pose track.

Data flow: PoseTrack (any layout) -> Penn-13 (skeletons.convert) -> windows of ``window_s`` every
``hop_s`` -> SportNet pose code (sec 2.4, box from the joints) sampled at T segment centres (sec 2.2)
-> model -> window probabilities -> per-frame probabilities (mean of the windows covering the frame)
-> label per frame -> segments with confidence and top-3.

Open-set rejection ("unknown"): a window where the body hardly moves (``min_motion``) is not classified
(every Penn Action class is a movement; a golfer standing at address is not "jump rope"), and a frame
whose best class has a probability below ``min_confidence`` is unknown, so a walk is not forced into one
of the 15 classes.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from sportlens.config import RecognitionSettings
from sportlens.data.transforms import encode, hflip, segment_indices
from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint
from sportlens.errors import InputError
from sportlens.skeletons import convert
from sportlens.types import ActionSegment, ActionTimeline, PoseTrack

UNKNOWN = "unknown"
SHIPPED = Path(__file__).resolve().parent.parent / "assets" / "recognition_penn13.pt"


class Recognizer:
    """A checkpoint ready to classify pose tracks (loaded once, reused for every video)."""

    def __init__(self, checkpoint: str | Path | None = None):
        path = Path(checkpoint) if checkpoint else SHIPPED
        if not checkpoint and not path.is_file():
            raise InputError(f"{path}: the shipped recognition model is missing from this installation; "
                             "reinstall sportlens or pass a checkpoint")
        self.ckpt = load_checkpoint(path)
        self.model = build_from_checkpoint(self.ckpt).eval()
        self.classes: tuple[str, ...] = tuple(self.ckpt["classes"])
        spec = self.ckpt["data_spec"]
        self.skeleton, self.T = spec.get("skeleton", "penn13"), int(spec.get("num_frames", 32))
        self.encoding = spec.get("encoding", "sportnet")
        self.tta_flip = bool(spec.get("tta_flip", False))  # evaluated with flip TTA -> classify as evaluated
        self.name = f"{self.ckpt['model_name']} ({path.name})"

    def window_probs(self, track: PoseTrack, s: RecognitionSettings) -> tuple[np.ndarray, np.ndarray]:
        """Windows as (W, 2) [start, end) frame indices and their class probabilities (W, K)."""
        kp, sc = convert(track.keypoints, track.scores, track.skeleton, self.skeleton)  # (T, V, 2), (T, V)
        vis = np.isfinite(kp).all(axis=-1)  # (T, V)
        starts = _window_starts(track.times, s.window_s, s.hop_s)
        spans, codes = [], []
        for a in starts:
            b = int(np.searchsorted(track.times, track.times[a] + s.window_s))
            if b - a < 2 or vis[a:b].mean() < s.min_visible or window_motion(kp[a:b]) < s.min_motion:
                continue
            codes.append(self._code(kp[a:b], vis[a:b]))  # (T, V, C)
            spans.append((a, b))
        if not codes:
            return np.zeros((0, 2), int), np.zeros((0, len(self.classes)))
        with torch.inference_mode():
            probs = torch.softmax(self.model(torch.from_numpy(np.stack(codes)).float()), dim=-1)  # (W, K)
            if self.tta_flip:  # mirror the track once, not every overlapping window
                f_kp, f_vis, _ = hflip(kp, vis, None, 0.0, self.skeleton)
                flipped = [self._code(f_kp[a:b], f_vis[a:b]) for a, b in spans]
                probs = (probs + torch.softmax(self.model(torch.from_numpy(np.stack(flipped)).float()), dim=-1)) / 2
        return np.array(spans), probs.numpy()

    def _code(self, kp: np.ndarray, vis: np.ndarray) -> np.ndarray:
        """(T, V, C) centre-frame code of one window of L frames (kp (L, V, 2) in this model's skeleton)."""
        code = encode(kp, vis, None, self.encoding)  # (L, V, C)
        return code[segment_indices(len(kp), self.T, train=False)]

    def timeline(self, track: PoseTrack, s: RecognitionSettings = RecognitionSettings()) -> ActionTimeline:
        spans, probs = self.window_probs(track, s)
        frame_probs = _per_frame(spans, probs, track.num_frames, len(self.classes))  # (T, K)
        labels = _frame_labels(frame_probs, self.classes, s.min_confidence)
        segments = _segments(labels, frame_probs, track.times, self.classes, s.min_segment_s)
        return ActionTimeline(self.classes, track.times.copy(), frame_probs, segments, model=self.name)


def window_motion(kp: np.ndarray) -> float:
    """Typical movement of a window: median over frames of the mean joint speed (pixels/frame),
    divided by the body size (diagonal of the 5-95th percentile extent of the joints). 0 if unknown."""
    if len(kp) < 2 or not np.isfinite(kp).any():
        return 0.0
    speed = np.linalg.norm(np.diff(kp, axis=0), axis=-1)  # (L-1, V), NaN where a joint is missing
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames
        per_frame = np.nanmean(speed, axis=1)  # (L-1,)
        lo, hi = np.nanpercentile(kp, 5, axis=(0, 1)), np.nanpercentile(kp, 95, axis=(0, 1))  # (2,)
        typical = np.nanmedian(per_frame)
    size = float(np.hypot(*(hi - lo)))
    return float(typical / size) if size > 0 and np.isfinite(typical) else 0.0


def _window_starts(times: np.ndarray, window_s: float, hop_s: float) -> list[int]:
    """Frame indices where windows start: every ``hop_s``; one window for a clip shorter than a window."""
    if len(times) == 0:
        return []
    last = max(times[0], times[-1] - window_s)
    return sorted({int(np.searchsorted(times, t)) for t in np.arange(times[0], last + 1e-9, hop_s)})


def _per_frame(spans: np.ndarray, probs: np.ndarray, T: int, K: int) -> np.ndarray:
    total, count = np.zeros((T, K)), np.zeros(T)
    for (a, b), p in zip(spans, probs):
        total[a:b] += p
        count[a:b] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count[:, None] > 0, total / np.maximum(count, 1)[:, None], np.nan)  # (T, K)


def _frame_labels(frame_probs: np.ndarray, classes: tuple[str, ...], min_conf: float) -> list[str]:
    out = []
    for p in frame_probs:
        if not np.isfinite(p).all():
            out.append(UNKNOWN)
            continue
        k = int(np.argmax(p))
        out.append(classes[k] if p[k] >= min_conf else UNKNOWN)
    return out


def _segments(labels: list[str], probs: np.ndarray, times: np.ndarray, classes: tuple[str, ...],
              min_s: float) -> list[ActionSegment]:
    runs = _runs(labels)
    # absorb runs shorter than min_s into the previous run (or the next, at the start)
    merged: list[list] = []
    for lab, a, b in runs:
        short = times[b - 1] - times[a] < min_s if b > a else True
        if merged and short:
            merged[-1][2] = b
        else:
            merged.append([lab, a, b])
    if len(merged) > 1 and times[merged[0][2] - 1] - times[merged[0][1]] < min_s:
        merged[1][1] = merged[0][1]
        merged.pop(0)
    joined: list[list] = []
    for lab, a, b in merged:  # neighbours with the same label after absorption become one
        if joined and joined[-1][0] == lab:
            joined[-1][2] = b
        else:
            joined.append([lab, a, b])
    return [_segment(lab, a, b, probs, times, classes) for lab, a, b in joined]


def _runs(labels: list[str]) -> list[tuple[str, int, int]]:
    runs, start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            runs.append((labels[start], start, i))
            start = i
    return runs


def _segment(label: str, a: int, b: int, probs: np.ndarray, times: np.ndarray,
             classes: tuple[str, ...]) -> ActionSegment:
    p = probs[a:b]
    mean = np.nanmean(p, axis=0) if np.isfinite(p).any() else np.zeros(len(classes))
    order = np.argsort(-np.nan_to_num(mean))[:3]
    top3 = [(classes[k], float(mean[k])) for k in order]
    conf = float(mean[classes.index(label)]) if label in classes else (top3[0][1] if top3 else 0.0)
    end = times[b] if b < len(times) else times[b - 1] + (np.median(np.diff(times)) if len(times) > 1 else 0.0)
    return ActionSegment(float(times[a]), float(end), label, conf, top3)
