"""Non-parametric "motion matching" pose forecaster (issue 6): ``knn``.

Penn Action's 15 actions repeat the same few motions, so the future of a window is forecast from the
futures of the most similar windows of the TRAINING clips, without any training.

Index (:class:`KnnForecaster`, built by :meth:`KnnForecaster.build` from clips)
------------------------------------------------------------------------------
The index holds the training clips' frames (pixels, NaN = invisible) and one entry per window:
- protocol B entries: every start frame ``s = 9 .. T-17`` of every clip (10 observed, 16 future frames at
  the native rate, as ``protocols.protocol_b_windows``);
- protocol A entries: every frame ``s`` of every clip (one observed pose; future frames
  ``min(s + k * stride, T - 1)`` with the INDEX clip's own stride ``max(1, (T - 1) // 17)``).
  Convention (the same as ``forecast/training.py``, whose models are trained on A windows of the training
  clips at their own stride): the predictor is never told the stride of the clip being forecast (a live
  system does not know the clip length either); a one-pose window is answered with the A entries, i.e.
  with the futures, at their own stride, of the most similar single poses of the training clips.
Which entries answer a query: one observed pose -> A entries; two or more -> B entries (a window shorter
than 10 frames is padded by ``normalize_observed`` like for the learned models).

Features. Every window is normalised exactly like the learned models' input
(``training.normalize_observed``: hip centre of the last frame, box size of the window, missing joints
filled forward/backward). B feature: the normalised positions of the observed frames ``frames_b`` (default
the last one and 3, 6, 9 frames before it) plus ``vel_weight`` x the velocities ``(x[-1] - x[-1-n]) / n`` for
``n`` in ``vel_frames`` (default 1, 3, 9 frames), and ``vis_weight`` x the visibility of the last frame; A
feature: the normalised pose plus ``vis_weight`` x its visibility. Both are projected on their first
``pca_dims`` principal components (fitted on the index) and searched by brute force (one float32 matrix
product + argpartition: exact, a few milliseconds for one window on one thread).

Flip augmentation (``flip=True``): the mirrored query (x -> -x about the centre, left/right joints swapped
with ``PENN13.flip_index``) is searched too and the futures found for it are mirrored back; the k nearest
of both searches are kept. This equals mirroring the index (twice the entries) at no storage cost.

Forecast. A neighbour's future is expressed as residuals from its own last observed (filled) pose in units of
its own window scale: ``r = (future_px - last_px) / scale``; the forecast is the query's last (filled)
normalised pose plus the aggregate of the k residuals, mapped back to pixels (``* scale + centre``). A
neighbour's future joint that is invisible is left out of the aggregate (NaN); where no neighbour has it the
residual is 0 (zero velocity). Aggregations (``agg``), compared on the validation split:
``mean``; ``wmean`` (weights ``exp(-d^2 / (2 h^2))`` with ``h`` = the median neighbour distance of the
query); ``median`` (per coordinate); ``medoid`` (the one neighbour future with the smallest mean distance
to the others, whole trajectory; its invisible joints from the median); ``mode`` (per joint and step, the
neighbour position with the most neighbours within ``mode_sigma`` (Gaussian kernel) = a discrete mean-shift
mode: PCK@0.05 rewards the MODE of a multi-modal future, see ``training.py``).

Choices measured on a validation split of the TRAINING clips (never the test split): the seeded 10 % of
the training clips that ``training.train_forecaster`` also keeps for validation (:func:`validation_split`;
126 clips, 8585 protocol A and 5437 protocol B windows; index from the other 1131 clips), PCK@0.05 in %
(step 16 / mean over steps 1..16), run of 2026-11-28:
- zero velocity: A 39.4, B 46.1 (step 16); the shipped msgcn: A 40.5 / 46.5, B 49.8 / 71.0.
- B features (k 32, median): positions only (``vel_weight`` 0) 48.6 / 68.3; ``vel_weight`` 2 48.7 / 68.4,
  5 48.9 / 68.9, 10 50.2 / 70.3, 20 52.8 / 72.7, 40 53.4 / 73.2, 80 (last frame only) 52.3 / 72.4;
  velocities over 1, 3, 9 frames at weight 20: 53.9 / 73.4 (chosen); positions of all 10 frames or of the
  last one only instead of 4 frames: no better at weight 2 (48.5, 48.7), the last one only 53.5 at weight 20
  (4 frames 52.8, velocity over 3 frames); PCA 16 / 64 dims instead of 32: -0.2 / +0.1 (weight 2);
  visibility in the feature: -1.0; no flip: +0.9 at weight 2 but -1.3 at weight 40 (last frame only).
  The velocity is what finds a window in the same phase of the same motion.
- B aggregation (chosen features): median k 16 53.5 / 73.5, k 32 53.9 / 73.4, k 48 53.5 / 73.1; mean k 32
  53.1 / 73.2; distance-weighted mean 53.2 / 73.3; medoid 50.7 / 70.5; ``mode`` (k 32, earlier features)
  1.7 below the median. The median of many neighbours wins: it keeps a motion the neighbours agree on and
  shrinks towards "stay" where they disagree (the mode picks one neighbour, too noisy at k = 32).
  Scaling the median residual by 0.8 / 0.9 / 1.1 or a trimmed mean around it (neighbours within 0.03 or
  0.06): no better (B step 16 52.5-53.7, A 40.6-41.6).
- A (one pose): median k 16 39.9 / 44.7, k 32 41.1 / 46.0, k 64 41.7 / 46.6 (chosen), k 96 41.7 / 46.8,
  k 128 41.6 / 46.9; mean/weighted mean/medoid/mode at k 8-32 all below the median (37.8-39.6 at step 16);
  no flip: 40.5 / 45.9.
- Blend with the shipped msgcn (``w * knn + (1 - w) * msgcn``, weights 0, 0.1, .., 1): best w = 1.0 in A
  (the score dips between the ends: averaging two different modes is worse than either) and 0.8 in B (+0.1
  over knn alone, within noise). With trajgcn: 1.0 and 0.9. :data:`BLEND_WEIGHTS_MSGCN` records it.

Test split (``benchmarks/results/bench_forecast.md``, run of 2026-11-28): protocol B step 16 58.8 % (msgcn
55.9, trajgcn 57.0), ``knn+msgcn`` 59.5 %; protocol A step 16 40.7 % (msgcn 38.2, seq2seq 41.8).

Storage (:meth:`save` / :meth:`load`): the frames, quantised per clip to uint16 inside the clip's box of visible
joints (error <= 1/131070 of the box side; uint8, 1/510, moved the velocity features enough to swap neighbours
and change some forecasts by tens of pixels), the visibility bits, the clip lengths and the config, in one
compressed ``.npz``; the features are rebuilt when loading (a few seconds).
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sportlens.forecast.training import normalize_observed
from sportlens.skeletons import PENN13, Skeleton

OBSERVE = 10
HORIZON = 16
AGGREGATIONS = ("mean", "wmean", "median", "medoid", "mode")
QMAX = 65535.0  # stored frames: uint16 inside each clip's box (uint8 was too coarse for the velocity features)


@dataclass
class KnnConfig:
    """Settings of the kNN forecaster (module docstring); the defaults are the validation choices."""

    k: int = 32
    agg: str = "median"
    k_a: int | None = 64  # k for the protocol A (one pose) entries; None = k
    agg_a: str | None = "median"  # aggregation for A; None = agg
    frames_b: tuple[int, ...] = (0, 3, 6, 9)  # observed frames in the B feature, counted back from the last
    vel_weight: float = 20.0
    vel_frames: tuple[int, ...] = (1, 3, 9)  # velocities (x[-1] - x[-1-n]) / n in the B feature
    vis_weight: float = 0.0
    pca_dims: int = 32
    flip: bool = True
    mode_sigma: float = 0.03  # kernel width of ``mode`` in normalised units (about half a PCK threshold)
    horizon: int = HORIZON
    observe: int = OBSERVE


def _flip_norm(x: np.ndarray, flip_idx: np.ndarray) -> np.ndarray:
    """Mirror (..., V, C) normalised poses: swap left/right joints, negate channel 0 (x)."""
    x = x[..., flip_idx, :].copy()
    x[..., 0] = -x[..., 0]
    return x


def _nanmedian(r: np.ndarray, axis: int) -> np.ndarray:
    """Median along ``axis`` ignoring NaN (NaN where all are NaN); a sort, faster than ``np.nanmedian``."""
    srt = np.sort(r, axis=axis)  # NaN last
    n = np.isfinite(srt).sum(axis=axis, keepdims=True)  # valid values
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0), axis=axis)
    hi = np.take_along_axis(srt, np.maximum(n // 2, 0).clip(max=r.shape[axis] - 1), axis=axis)
    out = np.where(n > 0, 0.5 * (lo + hi), np.nan)
    return np.squeeze(out, axis=axis)


def aggregate(r: np.ndarray, dist: np.ndarray, agg: str, mode_sigma: float = 0.03) -> np.ndarray:
    """Aggregate neighbour residual futures ``r`` (Q, k, H, V, 2) (NaN = unknown) with their distances
    ``dist`` (Q, k) into (Q, H, V, 2) (NaN where no neighbour knows the joint)."""
    import warnings

    ok = np.isfinite(r).all(-1)  # (Q, k, H, V)
    rz = np.where(ok[..., None], r, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if agg == "mean":
            w = ok.astype(np.float64)
            return (rz * w[..., None]).sum(1) / w.sum(1)[..., None]
        if agg == "wmean":
            h = np.maximum(np.median(dist, axis=1, keepdims=True), 1e-9)  # (Q, 1)
            wd = np.exp(-0.5 * (dist / h) ** 2)  # (Q, k)
            w = ok * wd[:, :, None, None]
            return (rz * w[..., None]).sum(1) / w.sum(1)[..., None]
        if agg == "median":
            return _nanmedian(r, axis=1)
        if agg == "medoid":
            med = _nanmedian(r, axis=1)  # (Q, H, V, 2)
            Q, k = r.shape[:2]
            flat = rz.reshape(Q, k, -1, 2)  # (Q, k, HV, 2)
            okf = ok.reshape(Q, k, -1).astype(np.float64)  # (Q, k, HV)
            cost = np.zeros((Q, k))
            for j in range(k):  # mean distance of neighbour j's future to the others' (common joints)
                d = np.linalg.norm(flat - flat[:, j:j + 1], axis=-1)  # (Q, k, HV)
                both = okf * okf[:, j:j + 1]
                cost[:, j] = (d * both).sum((1, 2)) / np.maximum(both.sum((1, 2)), 1)
            cost[okf.sum(2) == 0] = np.inf
            best = cost.argmin(1)  # (Q,)
            pick = r[np.arange(Q), best]  # (Q, H, V, 2)
            return np.where(np.isfinite(pick), pick, med)
        if agg == "mode":
            # per (query, step, joint): the neighbour position with the largest kernel density among them
            Q, k = r.shape[:2]
            rt = np.moveaxis(rz, 1, -2).astype(np.float32)  # (Q, H, V, k, 2)
            okt = np.moveaxis(ok, 1, -1).astype(np.float32)  # (Q, H, V, k)
            out = np.empty(rt.shape[:3] + (2,))
            step = max(1, int(4e6 // max(np.prod(rt.shape[1:4]) * k, 1)))
            for i in range(0, Q, step):
                a, m = rt[i:i + step], okt[i:i + step]
                d2 = ((a[..., :, None, :] - a[..., None, :, :]) ** 2).sum(-1)  # (q, H, V, k, k)
                dens = (np.exp(-d2 / np.float32(2 * mode_sigma ** 2)) * m[..., None, :]).sum(-1)  # (q, H, V, k)
                dens = np.where(m > 0, dens, -1.0)
                best = dens.argmax(-1)  # (q, H, V)
                out[i:i + step] = np.take_along_axis(a, best[..., None, None], axis=-2)[..., 0, :]
            return np.where((okt.sum(-1) > 0)[..., None], out, np.nan)
    raise ValueError(f"agg {agg!r}: use one of {', '.join(AGGREGATIONS)}")


@dataclass
class _Entries:
    """One protocol's index entries: last observed frame (global), target frames (N, H) (global),
    the normalised feature (N, d) float32, the filled last pose in pixels (N, V, 2) and the scale (N,)."""

    last: np.ndarray
    targets: np.ndarray
    feat: np.ndarray
    last_px: np.ndarray
    scale: np.ndarray
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    comps: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    sqnorm: np.ndarray = field(default_factory=lambda: np.zeros(0))


class KnnForecaster:
    """kNN forecaster: ``KnnForecaster.build(clips)(observed (N, T, V, 2) px, horizon)`` -> (N, horizon, V, 2)
    px (the predictor interface of ``bench_forecast.PREDICTORS`` and ``eval forecast``)."""

    def __init__(self, frames: np.ndarray, lengths: Sequence[int], cfg: KnnConfig | None = None,
                 skeleton: Skeleton = PENN13, chunk: int = 8192) -> None:
        t0 = time.perf_counter()
        self.cfg = cfg or KnnConfig()
        self.skeleton = skeleton
        self.frames = np.asarray(frames, dtype=np.float32)  # (F, V, 2) pixels, NaN = invisible
        self.lengths = np.asarray(lengths, dtype=np.int64)  # (C,)
        if self.lengths.sum() != len(self.frames):
            raise ValueError("clip lengths must add up to the number of frames")
        self.flip_idx = np.asarray(skeleton.flip_index)
        self.chunk = chunk
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        H, O = self.cfg.horizon, self.cfg.observe
        kk = np.arange(1, H + 1)
        a_last, a_tgt, b_last = [], [], []
        for st, T in zip(starts, self.lengths):
            if T == 0:
                continue
            s = np.arange(T)
            stride = max(1, (T - 1) // 17)
            a_last.append(st + s)
            a_tgt.append(st + np.minimum(s[:, None] + stride * kk[None], T - 1))
            sb = np.arange(O - 1, T - H)
            b_last.append(st + sb)
        a_last = np.concatenate(a_last) if a_last else np.zeros(0, np.int64)
        a_tgt = np.concatenate(a_tgt) if a_tgt else np.zeros((0, H), np.int64)
        b_last = np.concatenate(b_last) if b_last else np.zeros(0, np.int64)
        b_tgt = b_last[:, None] + kk[None]
        # A entries whose pose has no visible joint carry no information: left out
        keep = np.isfinite(self.frames[a_last]).all(-1).any(-1)
        self.entries = {"A": self._entries(a_last[keep], a_tgt[keep], 1),
                        "B": self._entries(b_last, b_tgt, O)}
        self.build_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------------ features
    def _features(self, x: np.ndarray, proto: str) -> np.ndarray:
        """(N, T, V, 3) normalised windows -> (N, D) raw features (before PCA)."""
        cfg = self.cfg
        pos, vis = x[..., :2], x[..., 2]
        if proto == "A":
            parts = [pos[:, -1].reshape(len(x), -1)]
        else:
            parts = [pos[:, -1 - f].reshape(len(x), -1) for f in cfg.frames_b]
            if cfg.vel_weight:
                parts += [cfg.vel_weight * ((pos[:, -1] - pos[:, -1 - n]) / n).reshape(len(x), -1)
                          for n in cfg.vel_frames]
        if cfg.vis_weight:
            parts.append(cfg.vis_weight * vis[:, -1])
        return np.concatenate(parts, 1).astype(np.float32)

    def _observed(self, last: np.ndarray, n_obs: int) -> np.ndarray:
        idx = last[:, None] + np.arange(-n_obs + 1, 1)[None]  # (N, n_obs)
        return self.frames[idx]  # (N, n_obs, V, 2)

    def _entries(self, last: np.ndarray, targets: np.ndarray, n_obs: int) -> _Entries:
        proto = "A" if n_obs == 1 else "B"
        feats, last_px, scales = [], [], []
        for i in range(0, len(last), self.chunk):
            x, c, s = normalize_observed(self._observed(last[i:i + self.chunk], n_obs), n_obs, self.skeleton)
            feats.append(self._features(x, proto))
            last_px.append((x[:, -1, :, :2] * s[:, None, None] + c[:, None]).astype(np.float32))
            scales.append(s.astype(np.float32))
        D = self._features(np.zeros((1, n_obs, self.skeleton.num_joints, 3), np.float32), proto).shape[1]
        F = np.concatenate(feats) if feats else np.zeros((0, D), np.float32)
        mean = F.mean(0) if len(F) else np.zeros(D, np.float32)
        d = min(self.cfg.pca_dims, D, max(len(F), 1))
        if len(F) > 1:
            rng = np.random.default_rng(0)
            sub = F[rng.choice(len(F), min(len(F), 20000), replace=False)] - mean
            _, _, vt = np.linalg.svd(sub.astype(np.float64), full_matrices=False)
            comps = vt[:d].T.astype(np.float32)  # (D, d)
        else:
            comps = np.eye(D, d, dtype=np.float32)
        feat = ((F - mean) @ comps).astype(np.float32)
        return _Entries(last=last, targets=targets, feat=feat,
                        last_px=np.concatenate(last_px) if last_px else np.zeros((0, self.skeleton.num_joints, 2)),
                        scale=np.concatenate(scales) if scales else np.zeros(0), mean=mean, comps=comps,
                        sqnorm=(feat.astype(np.float64) ** 2).sum(1).astype(np.float32))

    # ------------------------------------------------------------------ search
    def _search(self, e: _Entries, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest entries of PCA features q (Q, d): (ids (Q, k), distances (Q, k)), nearest first."""
        k = min(k, len(e.feat))
        d2 = e.sqnorm[None] - np.float32(2.0) * (q.astype(np.float32) @ e.feat.T)  # (Q, N), + |q|^2 below
        ids = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < d2.shape[1] else np.tile(np.arange(k), (len(q), 1))
        dd = np.take_along_axis(d2, ids, 1) + (q.astype(np.float64) ** 2).sum(1, keepdims=True)
        o = np.argsort(dd, 1)
        return np.take_along_axis(ids, o, 1), np.sqrt(np.maximum(np.take_along_axis(dd, o, 1), 0.0))

    def neighbours(self, observed: np.ndarray) -> dict[str, np.ndarray]:
        """Search only: ``ids`` (N, k), ``dist`` (N, k), ``flipped`` (N, k) bool, ``proto`` for (N, T, V, 2) px."""
        obs = np.asarray(observed, dtype=np.float64)
        proto = "A" if obs.shape[1] == 1 else "B"
        n_obs = 1 if proto == "A" else self.cfg.observe
        e = self.entries[proto]
        x, _, _ = normalize_observed(obs, n_obs, self.skeleton)
        k = (self.cfg.k_a or self.cfg.k) if proto == "A" else self.cfg.k
        q = (self._features(x, proto) - e.mean) @ e.comps
        ids, dist = self._search(e, q, k)
        flipped = np.zeros(ids.shape, bool)
        if self.cfg.flip:
            qf = (self._features(_flip_norm(x, self.flip_idx), proto) - e.mean) @ e.comps
            idf, distf = self._search(e, qf, k)
            ids, dist = np.concatenate([ids, idf], 1), np.concatenate([dist, distf], 1)
            flipped = np.concatenate([flipped, np.ones(idf.shape, bool)], 1)
            o = np.argsort(dist, 1, kind="stable")[:, :ids.shape[1] // 2]
            ids, dist, flipped = (np.take_along_axis(a, o, 1) for a in (ids, dist, flipped))
        return {"ids": ids, "dist": dist, "flipped": flipped, "proto": proto, "x": x}

    def residuals(self, proto: str, ids: np.ndarray, flipped: np.ndarray) -> np.ndarray:
        """Neighbour futures (Q, k, H, V, 2) as residuals from their last pose / their scale (NaN = invisible),
        mirrored where the neighbour was found for the mirrored query."""
        e = self.entries[proto]
        fut = self.frames[e.targets[ids]]  # (Q, k, H, V, 2)
        r = (fut - e.last_px[ids][:, :, None]) / e.scale[ids][:, :, None, None, None]
        if flipped.any():
            rf = r[..., self.flip_idx, :]
            rf[..., 0] = -rf[..., 0]
            r = np.where(flipped[:, :, None, None, None], rf, r)
        return r.astype(np.float64)

    def __call__(self, observed: np.ndarray, horizon: int = HORIZON, agg: str | None = None,
                 batch: int = 512) -> np.ndarray:
        obs = np.asarray(observed, dtype=np.float64)
        N, T, V, _ = obs.shape
        out = np.zeros((N, horizon, V, 2))
        for i in range(0, N, batch):
            o = obs[i:i + batch]
            nb = self.neighbours(o)
            proto = nb["proto"]
            a = agg or ((self.cfg.agg_a or self.cfg.agg) if proto == "A" else self.cfg.agg)
            r = self.residuals(proto, nb["ids"], nb["flipped"])
            res = aggregate(r, nb["dist"], a, self.cfg.mode_sigma)  # (Q, H, V, 2)
            res = np.where(np.isfinite(res), res, 0.0)
            out[i:i + batch] = self.forecast_from_residual(o, nb["x"], res, horizon)
        return out

    def forecast_from_residual(self, obs: np.ndarray, x: np.ndarray, res: np.ndarray, horizon: int) -> np.ndarray:
        """Query last (filled) normalised pose + residual (Q, H, V, 2) -> pixels (Q, horizon, V, 2)."""
        H = res.shape[1]
        if horizon <= H:
            res = res[:, :horizon]
        else:  # beyond the index horizon: hold the last residual
            res = np.concatenate([res, np.repeat(res[:, -1:], horizon - H, 1)], 1)
        _, c, s = normalize_observed(obs, x.shape[1], self.skeleton)
        pred = x[:, -1:, :, :2].astype(np.float64) + res  # (Q, horizon, V, 2)
        return pred * s[:, None, None, None] + c[:, None, None]

    # ------------------------------------------------------------------ construction and storage
    @classmethod
    def build(cls, clips: Sequence[Any], cfg: KnnConfig | None = None, skeleton: Skeleton = PENN13) -> KnnForecaster:
        """Index every window of ``clips`` (objects with ``keypoints`` (T, V, 2) and ``visibility`` (T, V))."""
        frames, lengths = [], []
        for c in clips:
            kp = np.asarray(c.keypoints, dtype=np.float64)
            vis = np.asarray(c.visibility, bool) & np.isfinite(kp).all(-1)
            frames.append(np.where(vis[..., None], kp, np.nan))
            lengths.append(len(kp))
        V = skeleton.num_joints
        f = np.concatenate(frames) if frames else np.zeros((0, V, 2))
        return cls(f, lengths, cfg, skeleton)

    @property
    def size(self) -> dict[str, int]:
        return {"clips": len(self.lengths), "frames": len(self.frames),
                "entries_A": len(self.entries["A"].last), "entries_B": len(self.entries["B"].last)}

    def save(self, path: str | Path) -> Path:
        """Write the index (uint16-quantised frames per clip box, visibility bits, lengths, config) as .npz."""
        path = Path(path)
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        vis = np.isfinite(self.frames).all(-1)  # (F, V)
        lo = np.zeros((len(self.lengths), 2), np.float32)
        span = np.ones((len(self.lengths), 2), np.float32)
        q = np.zeros(self.frames.shape, np.uint16)
        for i, (st, T) in enumerate(zip(starts, self.lengths)):
            p = self.frames[st:st + T]
            if not np.isfinite(p).any():
                continue
            lo[i] = np.nanmin(p, axis=(0, 1))
            span[i] = np.maximum(np.nanmax(p, axis=(0, 1)) - lo[i], 1e-3)
            q[st:st + T] = np.round(np.nan_to_num((p - lo[i]) / span[i] * QMAX)).clip(0, QMAX).astype(np.uint16)
        cfg = asdict(self.cfg)
        np.savez_compressed(path, frames_q=q, visible=np.packbits(vis, axis=None), lo=lo, span=span,
                            lengths=self.lengths.astype(np.int32), shape=np.array(self.frames.shape),
                            config=np.array(json.dumps(cfg)), skeleton=np.array(self.skeleton.name))
        return path

    @classmethod
    def load(cls, path: str | Path, **overrides: Any) -> KnnForecaster:
        """Read an index written by :meth:`save` (features rebuilt); ``overrides`` replace config fields."""
        from sportlens.skeletons import get_skeleton

        z = np.load(Path(path), allow_pickle=False)
        shape = tuple(int(v) for v in z["shape"])
        lengths = z["lengths"].astype(np.int64)
        vis = np.unpackbits(z["visible"], count=shape[0] * shape[1]).astype(bool).reshape(shape[:2])
        starts = np.repeat(np.arange(len(lengths)), lengths)  # clip of every frame
        frames = z["frames_q"].astype(np.float32) / QMAX * z["span"][starts][:, None] + z["lo"][starts][:, None]
        frames[~vis] = np.nan
        cfg = json.loads(str(z["config"]))
        cfg["frames_b"] = tuple(cfg["frames_b"])
        cfg["vel_frames"] = tuple(cfg.get("vel_frames", (3,)))
        cfg.update(overrides)
        return cls(frames, lengths, KnnConfig(**cfg), get_skeleton(str(z["skeleton"])))


def validation_split(clips: Sequence[Any], fraction: float = 0.1, seed: int = 0) -> tuple[list[Any], list[Any]]:
    """(train, validation) clips: the same seeded split of the TRAINING clips as ``training.train_forecaster``
    (first ``round(fraction * n)`` of ``default_rng(seed).permutation(n)``), so the learned models never saw
    the validation clips either and a blend weight chosen there is fair."""
    order = np.random.default_rng(seed).permutation(len(clips))
    n_val = max(1, int(round(fraction * len(clips))))
    return [clips[i] for i in order[n_val:]], [clips[i] for i in order[:n_val]]


class BlendForecaster:
    """``weight * knn + (1 - weight) * other`` in pixels, one weight per protocol (one observed pose = A,
    else B), chosen on the validation split (:func:`choose_blend_weight`)."""

    def __init__(self, knn: Any, other: Any, weights: dict[str, float]) -> None:
        self.knn, self.other, self.weights = knn, other, dict(weights)

    def __call__(self, observed: np.ndarray, horizon: int = HORIZON) -> np.ndarray:
        w = self.weights["A" if np.asarray(observed).shape[1] == 1 else "B"]
        a = self.knn(observed, horizon) if w > 0 else 0.0
        b = self.other(observed, horizon) if w < 1 else 0.0
        return w * a + (1.0 - w) * b


def choose_blend_weight(pred_knn: np.ndarray, pred_other: np.ndarray, windows: Any,
                        grid: Sequence[float] = tuple(np.round(np.linspace(0, 1, 11), 2))) -> tuple[float, dict]:
    """The weight of ``grid`` with the best validation score (mean of PCK@0.05 at the last step and over all
    steps, as the learned models are selected) and every weight's (score, pck at the last step)."""
    from sportlens.forecast.protocols import evaluate

    scores = {}
    for w in grid:
        r = evaluate(w * pred_knn + (1 - w) * pred_other, windows)
        scores[float(w)] = (float(np.mean([r["pck"][-1], np.mean(r["pck"])])), float(r["pck"][-1]))
    best = max(scores, key=lambda w: scores[w][0])
    return best, scores


# Blend weights of knn in ``knn+msgcn`` (per protocol), chosen on the validation split by
# ``benchmarks/bench_forecast.py`` (its kNN section lists every weight's validation score).
BLEND_WEIGHTS_MSGCN: dict[str, float] = {"A": 1.0, "B": 0.8}


def make_knn_predictor(model: str, data: str | Path | None = None, index: str | Path | None = None) -> Any:
    """``knn`` or ``knn+msgcn`` for ``sportlens eval forecast``: the index from ``index`` (a ``.npz`` written
    by :meth:`KnnForecaster.save`) or built from the official TRAIN split of Penn Action at ``data``."""
    from sportlens.errors import InputError

    if model not in ("knn", "knn+msgcn"):
        raise InputError(f"--model {model!r}: use knn or knn+msgcn")
    if index is not None:
        knn = KnnForecaster.load(index)
    elif data is not None:
        from sportlens.data.penn import load_penn_action

        clips, _ = load_penn_action(data, split="train")
        knn = KnnForecaster.build(clips)
    else:
        raise InputError("knn needs the Penn Action data (--data) or an index (--checkpoint KNN.npz)")
    if model == "knn":
        return knn
    from sportlens.forecast.training import Forecaster

    return BlendForecaster(knn, Forecaster(), BLEND_WEIGHTS_MSGCN)
