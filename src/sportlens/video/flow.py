"""Optical flow for the two-stream models: computing, eq. 4 normalisation, eq. 5 stacking, a disk cache.

Source: seed ``004_two_stream_mhssa.txt`` sec 2.1:
- eq. 2-3: brightness constancy, I_x V_x + I_y V_y + I_t = 0; the flow (V_x, V_y) of every pixel is
  estimated here by OpenCV (Farneback 2003, dense polynomial expansion; or TV-L1, Zach et al. 2007,
  the estimator of the TSN code the seed uses for its data "TSN open source", Table 2);
- eq. 4: "the study first truncates the extreme optical flow and unifies the optical flow values by
  Min-Max normalization", ``o_new = 255 (o - o_min) / (o_max - o_min)``. **We take o_min/o_max as the
  truncation bounds** -bound/+bound (TSN's ``dense_flow``: clip to [-20, 20] px, then map linearly to
  0..255), not as the extremes of each field: after the truncation the range of the values is
  [-bound, bound], and fixed bounds keep one scale for every field of every video (zero motion is
  always 127.5, so ``f / 127.5 - 1`` of the model contract maps it to 0), where a per-field min-max
  would blow the noise of a still frame up to the full 0..255 range and drop the magnitude of the
  motion. ``minmax="field"`` gives the other reading (extremes of each clipped x or y field);
- eq. 5: the temporal stream's input at a sampled time t0 is ``concat(O^u_t0, O^v_t0, ...,
  O^u_{t0+k-1}, O^v_{t0+k-1})``: k consecutive fields, x and y interleaved (2k channels).

Data flow::

    frames (L,H,W,3) uint8 RGB -> gray -> flow of each consecutive pair (L-1,H,W,2) float32 px/frame
      -> normalise_flow: clip [-b, b] -> 255 (o + b) / 2b -> round        (L-1,H,W,2) uint8   (eq. 4)
      -> stack_flow(centres, k): k fields around each sampled frame, clamped at the clip ends
         (S, 2k, H, W) uint8, channels u0 v0 u1 v1 ...                                        (eq. 5)
    FlowCache(root).get(key, frames_fn, settings) stores the eq. 4 output of one video as .npz with
    its settings, so flow is computed once per video and setting.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

METHODS = ("farneback", "tvl1")
# OpenCV's documented example values; winsize 15 smooths enough for person-sized motion at 100-300 px.
FARNEBACK_PARAMS = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
DEFAULT_BOUND = 20.0  # px/frame; TSN's clipping bound


# ---------------------------------------------------------------- computing (eq. 2-3)
def _gray(frames: np.ndarray) -> list[np.ndarray]:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (L, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    if len(frames) < 2:
        raise ValueError(f"optical flow needs at least 2 frames, got {len(frames)}")
    return [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]


def _tvl1() -> Any:
    optflow = getattr(cv2, "optflow", None)
    if optflow is None or not hasattr(optflow, "DualTVL1OpticalFlow_create"):
        raise ImportError("TV-L1 optical flow needs the module cv2.optflow, which this OpenCV build lacks: "
                          "install opencv-contrib-python-headless (not opencv-python), or use method='farneback'")
    return optflow.DualTVL1OpticalFlow_create()


def compute_flow(frames: np.ndarray, method: str = "farneback", **params: Any) -> np.ndarray:
    """Dense optical flow of each consecutive frame pair: (L, H, W, 3) uint8 RGB -> (L-1, H, W, 2)
    float32, channel 0 = x (u, positive to the right), 1 = y (v, positive down), in pixels per frame.

    ``method``: ``"farneback"`` (OpenCV core; ``params`` override ``FARNEBACK_PARAMS``) or ``"tvl1"``
    (``cv2.optflow.DualTVL1OpticalFlow``, opencv-contrib; slower, sharper motion boundaries).
    """
    if method not in METHODS:
        raise ValueError(f"unknown flow method {method!r}; use one of {METHODS}")
    gray = _gray(np.asarray(frames))
    out = np.empty((len(gray) - 1, *gray[0].shape, 2), dtype=np.float32)
    if method == "farneback":
        kw = {**FARNEBACK_PARAMS, **params}
        for i in range(len(gray) - 1):
            out[i] = cv2.calcOpticalFlowFarneback(gray[i], gray[i + 1], None, **kw)
    else:
        tvl1 = _tvl1()
        for i in range(len(gray) - 1):
            out[i] = tvl1.calc(gray[i], gray[i + 1], None)
    return out


# ---------------------------------------------------------------- eq. 4
def normalise_flow(flow: np.ndarray, bound: float = DEFAULT_BOUND, minmax: str = "bound") -> np.ndarray:
    """Eq. 4: truncate to [-bound, bound], then ``o_new = 255 (o - o_min) / (o_max - o_min)``, rounded
    to uint8 (..., 2).

    ``minmax="bound"`` (default, see the module docstring): o_min = -bound, o_max = bound, so
    ``o_new = 255 (o + bound) / (2 bound)``; zero motion -> 127.5 -> 128.
    ``minmax="field"``: o_min/o_max are the extremes of each clipped x or y field (the last axis, per
    leading index); a constant field (o_max = o_min) becomes 128 (no motion information).
    """
    if bound <= 0:
        raise ValueError(f"bound must be > 0, got {bound}")
    if minmax not in ("bound", "field"):
        raise ValueError(f"minmax must be 'bound' or 'field', got {minmax!r}")
    o = np.clip(np.nan_to_num(np.asarray(flow, dtype=np.float32)), -bound, bound)  # truncation
    if minmax == "bound":
        lo, hi = np.float32(-bound), np.float32(bound)
    else:
        axes = tuple(range(o.ndim - 3, o.ndim - 1))  # the H, W axes of (..., H, W, 2)
        lo, hi = o.min(axis=axes, keepdims=True), o.max(axis=axes, keepdims=True)  # (..., 1, 1, 2)
    span = hi - lo
    safe = np.where(span > 0, span, 1.0)
    out = np.where(span > 0, 255.0 * (o - lo) / safe, 127.5)
    return np.rint(out).astype(np.uint8)


def denormalise_flow(norm: np.ndarray, bound: float = DEFAULT_BOUND) -> np.ndarray:
    """Inverse of eq. 4 with fixed bounds: uint8 -> px/frame float32 (up to the 255-level quantisation)."""
    return (np.asarray(norm, dtype=np.float32) / 255.0 * 2.0 - 1.0) * np.float32(bound)


# ---------------------------------------------------------------- eq. 5
def stack_flow(norm_flow: np.ndarray, centres: Sequence[int] | np.ndarray, k: int,
               anchor: str = "centre") -> np.ndarray:
    """Eq. 5: for each sampled frame index, k consecutive flow fields with x/y interleaved.

    ``norm_flow`` (L-1, H, W, 2): field i is the motion from frame i to frame i+1 (any dtype; eq. 4
    output is uint8). ``centres``: S frame indices in [0, L-1]. ``anchor="centre"`` takes fields
    ``c - k//2 .. c - k//2 + k - 1`` (the stack is around the sampled frame, as in TSN);
    ``anchor="start"`` takes ``c .. c + k - 1`` (eq. 5's t0 read literally). Indices outside
    [0, L-2] are clamped, i.e. the first/last field is repeated at the clip ends.
    Returns (S, 2k, H, W) of the input dtype, channels ``u_0, v_0, u_1, v_1, ...``.
    """
    f = np.asarray(norm_flow)
    if f.ndim != 4 or f.shape[-1] != 2 or len(f) < 1:
        raise ValueError(f"norm_flow must be (L-1 >= 1, H, W, 2), got {f.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if anchor not in ("centre", "start"):
        raise ValueError(f"anchor must be 'centre' or 'start', got {anchor!r}")
    c = np.asarray(centres, dtype=np.int64).reshape(-1)  # (S,)
    n_frames = len(f) + 1
    if c.size and (c.min() < 0 or c.max() > n_frames - 1):
        raise ValueError(f"centres must be frame indices in [0, {n_frames - 1}], got {c.min()}..{c.max()}")
    start = c - (k // 2 if anchor == "centre" else 0)  # (S,)
    idx = np.clip(start[:, None] + np.arange(k)[None, :], 0, len(f) - 1)  # (S, k): clamp = repeat the ends
    st = f[idx]  # (S, k, H, W, 2)
    s, _, h, w, _ = st.shape
    return np.ascontiguousarray(st.transpose(0, 1, 4, 2, 3).reshape(s, 2 * k, h, w))  # (S, k, 2, H, W) -> (S, 2k, H, W)


# ---------------------------------------------------------------- cache
def _canonical(settings: dict | None) -> dict:
    """Fill the defaults and make the values JSON-comparable (size -> [H, W] list or None)."""
    s = {"method": "farneback", "bound": DEFAULT_BOUND, "size": None, **(settings or {})}
    if s["method"] not in METHODS:
        raise ValueError(f"unknown flow method {s['method']!r}; use one of {METHODS}")
    s["bound"] = float(s["bound"])
    size = s["size"]
    if size is not None:
        size = [int(size), int(size)] if np.isscalar(size) else [int(v) for v in size]
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"settings['size'] must be an int or (H, W), got {s['size']!r}")
    s["size"] = size
    return json.loads(json.dumps(s))  # tuples -> lists, so a loaded copy compares equal


class FlowCache:
    """Compute-once disk cache of eq. 4-normalised flow, one ``.npz`` per video under ``root``.

    ``get(video_key, frames_fn, settings)`` returns the (L-1, H, W, 2) uint8 flow of a video;
    ``frames_fn()`` (returning (L, H, W, 3) uint8 RGB) is only called on a miss. ``settings``:
    ``method`` ("farneback"), ``bound`` (20.0), ``size`` (None = as decoded; an int or (H, W)
    resizes the frames first), plus any extra keys the caller wants part of the identity. They are
    stored inside the file; a file made with other settings raises ``ValueError`` naming the file
    and the differing setting (flow computed another way must not be silently mixed in). Files are
    written to a temporary file in ``root`` and moved into place with ``os.replace`` (atomic), so an
    interrupted run never leaves a half-written cache file under the final name.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, video_key: str) -> Path:
        """File of ``video_key``: a readable, file-system-safe stem plus a hash (keys may hold '/')."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", video_key).strip("._")[:80] or "video"
        digest = hashlib.sha1(video_key.encode("utf-8")).hexdigest()[:10]
        return self.root / f"{stem}-{digest}.npz"

    def get(self, video_key: str, frames_fn: Callable[[], np.ndarray], settings: dict | None = None) -> np.ndarray:
        want = _canonical(settings)
        path = self.path(video_key)
        if path.exists():
            return self._load(path, video_key, want)
        flow = self._compute(frames_fn, want)
        self._save(path, video_key, want, flow)
        return flow

    @staticmethod
    def _compute(frames_fn: Callable[[], np.ndarray], s: dict) -> np.ndarray:
        frames = np.asarray(frames_fn())
        if s["size"] is not None and frames.ndim == 4 and tuple(frames.shape[1:3]) != tuple(s["size"]):
            h, w = s["size"]
            frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
        return normalise_flow(compute_flow(frames, s["method"]), s["bound"])

    @staticmethod
    def _load(path: Path, video_key: str, want: dict) -> np.ndarray:
        try:
            with np.load(path, allow_pickle=False) as z:
                have = json.loads(str(z["settings"]))
                key = str(z["video_key"])
                flow = z["flow"]
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"{path}: not a readable flow cache file ({e}); delete it to recompute") from None
        if key != video_key:
            raise ValueError(f"{path}: holds the flow of {key!r}, not {video_key!r}; delete it to recompute")
        for name in sorted(set(have) | set(want)):
            if have.get(name) != want.get(name):
                raise ValueError(f"{path}: flow cache made with another setting: {name}={have.get(name)!r} in the "
                                 f"file, {want.get(name)!r} requested (all settings in the file: {have}). "
                                 "Use another cache folder for this setting, or delete the file to recompute")
        return flow

    def _save(self, path: Path, video_key: str, settings: dict, flow: np.ndarray) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez_compressed(f, flow=flow, settings=np.array(json.dumps(settings, sort_keys=True)),
                                    video_key=np.array(video_key))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # atomic on one file system: readers see the old state or the whole file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
