"""Keypoint cleaning: confidence threshold, left/right swap repair, outliers, gaps, smoothing.

``clean_track`` runs the steps in this order, each on the output of the previous one:

1. ``apply_threshold``  joints below ``min_score`` become NaN (missing);
2. ``repair_lr_swaps``  left/right identity swaps of a whole limb chain are undone (before the
   Hampel filter, which would otherwise "repair" a swapped frame as two outliers);
3. ``hampel``           isolated spikes are replaced by the local median;
4. ``interpolate_gaps`` short interior gaps are filled (PCHIP on real times);
5. smoothing            ``butterworth`` (zero phase, offline), ``one_euro`` (causal) or none.

Before that, ``identity_breaks`` cuts the track where a single-person estimator jumped to another
person (a jump of many body sizes in one frame); steps 2-5 run on each segment separately, so
nothing is interpolated, filtered or differentiated across two different people.

What comes from a library and what is written here: the low-pass is ``scipy.signal`` (``butter``
+ ``sosfiltfilt``) and gap filling is ``scipy.interpolate.PchipInterpolator``. The Hampel filter,
the One-Euro filter and the swap repair are written by hand because neither numpy nor scipy
provides them.

Every array function takes time on axis 0 and any trailing shape, ``(T, ...)``; it works column
by column on the flattened trailing axes and returns a new array (inputs are never modified).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.interpolate import PchipInterpolator
from scipy.signal import butter, sosfiltfilt

from sportlens.config import CleaningSettings
from sportlens.skeletons import get_skeleton
from sportlens.types import PoseTrack

FILTERS = ("butterworth", "oneeuro", "none")

# Butterworth: the cut-off is clipped to this fraction of the sample rate (0.9 x Nyquist), so a
# 6 Hz setting still runs on a 10 fps video (as 4.5 Hz, close to a pass-through).
MAX_CUTOFF_FRACTION = 0.45
# Finite runs shorter than this are left unfiltered (nothing meaningful to smooth in 1-2 samples).
MIN_FILTER_RUN = 3

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
HAMPEL_MIN_VALID = 3  # a window with fewer finite samples cannot tell an outlier: nothing flagged

# Limb chains whose left/right labels are swapped together; face pairs are ignored (a swapped ear
# does not change any angle we report, and faces are too small to judge continuity).
LEG_CHAIN = ("hip", "knee", "ankle", "heel", "foot_index")
ARM_CHAIN = ("shoulder", "elbow", "wrist", "pinky", "index", "thumb")
# Swap repair costs are in body sizes (median bounding-box diagonal of the pose): per frame, the
# distance of each joint to its constant-velocity prediction, averaged over the chain's pairs.
# An isolated swapped frame costs ~8x the mean left/right separation (it spoils 3 predictions),
# so 0.25 repairs swaps of limbs more than ~3 % of the body size apart. Tuned on synthetic
# walkers: no false swap with 2-8 px noise on a 370 px body; lower values start flipping
# stretches of noisy, undersampled (< 10 frames per gait cycle) arms.
SWAP_MIN_GAIN = 0.25  # a run of swapped frames is repaired only if it saves more than this
SWAP_PRIOR = 1e-3  # per swapped frame: the estimator's own labelling wins when evidence is even


@dataclass
class CleaningReport:
    """What ``clean_track`` did. Counts are joint-samples (frame x joint) unless said otherwise."""

    frames: int
    joints: int
    missing_input: int  # joints already missing (NaN) in the raw track
    thresholded: int  # present joints removed because their score was below min_score
    swaps_repaired: int  # frames in which at least one limb chain was swapped back
    outliers: int  # joints flagged by Hampel (replaced by the local median; ~1-2 % on pure jitter)
    interpolated: int  # joints filled by gap interpolation
    remaining_missing: int  # joints still NaN in the cleaned track
    filter: str  # the smoothing actually applied: butterworth | oneeuro | none
    cutoff_hz: float | None  # effective Butterworth cut-off (after clipping), else None
    fps: float | None  # sample rate the filter assumed, 1 / median(dt); None when not filtered
    identity_segments: int = 1  # parts the track was cut into where the estimator jumped to another person

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------------- helpers


def _columns(x: np.ndarray) -> np.ndarray:
    """(T, ...) -> a (T, C) float copy (explicit C: numpy cannot reshape (0, -1))."""
    x = np.array(x, dtype=np.float64)
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64)))


def _check_times(times: np.ndarray, n: int) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64)
    if t.shape != (n,):
        raise ValueError(f"times must have shape ({n},), got {t.shape}")
    if n > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("times must be finite and strictly increasing")
    return t


def _finite_runs(y: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of finite values of the 1-D ``y``."""
    edges = np.diff(np.concatenate(([0], np.isfinite(y).astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _present(kp: np.ndarray) -> np.ndarray:
    """(T, V, 2) -> (T, V) bool: both coordinates finite."""
    return np.isfinite(kp).all(axis=-1)


def sample_rate(times: np.ndarray) -> float:
    """Frames per second as 1 / median frame interval; robust to the jitter of VFR timestamps."""
    dt = np.diff(np.asarray(times, dtype=np.float64))
    dt = dt[dt > 0]
    return float(1.0 / np.median(dt)) if dt.size else 0.0


# ------------------------------------------------------------------------- threshold and gaps


def apply_threshold(keypoints: np.ndarray, scores: np.ndarray, min_score: float) -> np.ndarray:
    """(T, V, 2) keypoints with joints whose (T, V) score is below ``min_score`` set to NaN.

    A score equal to ``min_score`` is kept; a NaN score counts as low.
    """
    kp = np.array(keypoints, dtype=np.float64)  # (T, V, 2) copy
    low = ~(np.asarray(scores, dtype=np.float64) >= min_score)  # (T, V)
    kp[low] = np.nan
    return kp


def interpolate_gaps(x: np.ndarray, times: np.ndarray, max_gap_s: float) -> np.ndarray:
    """Fill interior NaN gaps of ``x`` (T, ...) lasting at most ``max_gap_s``, column by column.

    A gap's duration is the time between the valid samples around it (so a 3-frame hole at 30 fps
    lasts 4/30 s). Filling uses PCHIP (monotone cubic, no overshoot) through every valid sample of
    the column on the real ``times`` (variable frame rate is fine); with only two valid samples
    it is linear. Leading/trailing NaNs and longer gaps stay NaN.
    """
    cols = _columns(x)  # (T, C)
    t = _check_times(times, cols.shape[0])
    for c in range(cols.shape[1]):
        cols[:, c] = _fill_column(cols[:, c], t, max_gap_s)
    return cols.reshape(np.shape(x))


def _fill_column(y: np.ndarray, t: np.ndarray, max_gap_s: float) -> np.ndarray:
    valid = np.flatnonzero(np.isfinite(y))  # (N,)
    if valid.size < 2 or valid.size == y.size:
        return y
    before = np.flatnonzero(np.diff(valid) > 1)  # gap k lies between valid[k] and valid[k + 1]
    duration = t[valid[before + 1]] - t[valid[before]]
    short = before[duration <= max_gap_s + 1e-9]  # tolerance: frame times are rounded floats
    fill = np.zeros(y.size, dtype=bool)
    for k in short:
        fill[valid[k] + 1 : valid[k + 1]] = True
    if not fill.any():
        return y
    if valid.size >= 3:
        values = PchipInterpolator(t[valid], y[valid])(t[fill])
    else:
        values = np.interp(t[fill], t[valid], y[valid])
    out = y.copy()
    out[fill] = values
    return out


# ------------------------------------------------------------------------------------ Hampel


def hampel(
    x: np.ndarray, window: int, n_sigmas: float, points: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Hampel outlier filter on ``x`` (T, ...): returns (x_clean, outlier_mask), both (T, ...).

    Written here: scipy has no NaN-aware Hampel filter. A sample is an outlier when it is further
    than ``n_sigmas`` robust sigmas (1.4826 x MAD) from the median of the centred ``window``
    (``window // 2`` samples each side, shorter at the ends); it is replaced by that median.
    NaNs are ignored in the statistics and never flagged; a sample whose window has fewer than 3
    finite samples, or none on one side (first/last sample of a run), is not judged.

    With ``points=True`` the last axis holds the coordinates of one point (x, y): a point with
    any outlying coordinate is an outlier as a whole, all its coordinates replaced (a keypoint
    that jumps is wrong in x and y even when one of them stays in range).

    Limits: on a fast-moving joint the window's spread (MAD) grows with the motion, so only
    jumps well above the per-frame displacement are caught; on Gaussian jitter about 1-2 % of
    samples are flagged (the MAD of 7 samples is itself noisy), which is harmless (they are
    replaced by the local median) but inflates the outlier count.
    """
    if window < 3:
        raise ValueError(f"hampel window must be >= 3 samples, got {window}")
    cols = _columns(x)  # (T, C)
    if cols.shape[0] == 0:
        return cols.reshape(np.shape(x)), np.zeros(np.shape(x), dtype=bool)
    half = window // 2
    padded = np.pad(cols, ((half, half), (0, 0)), constant_values=np.nan)  # (T + 2h, C)
    win = sliding_window_view(padded, 2 * half + 1, axis=0)  # (T, C, W), a view
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: median NaN, not flagged
        med = np.nanmedian(win, axis=-1)  # (T, C)
        sigma = MAD_TO_SIGMA * np.nanmedian(np.abs(win - med[..., None]), axis=-1)  # (T, C)
    finite = np.isfinite(win)  # (T, C, W)
    # judged: enough samples, and a neighbour on each side (at the end of a run the median of a
    # one-sided window lags behind a moving joint, so a false alarm there would do harm)
    usable = (finite.sum(axis=-1) >= HAMPEL_MIN_VALID) & np.isfinite(cols)
    usable &= finite[..., :half].any(axis=-1) & finite[..., half + 1 :].any(axis=-1)
    with np.errstate(invalid="ignore"):
        outlier = usable & (np.abs(cols - med) > n_sigmas * sigma)  # (T, C)
    if points:
        shape = np.shape(x)
        outlier = outlier.reshape(shape).any(axis=-1, keepdims=True) & usable.reshape(shape)
        outlier = outlier.reshape(cols.shape)
    clean = np.where(outlier, med, cols)
    return clean.reshape(np.shape(x)), outlier.reshape(np.shape(x))


# -------------------------------------------------------------------------------- Butterworth


def butterworth_cutoff(fps: float, cutoff_hz: float) -> float:
    """The cut-off actually used: ``min(cutoff_hz, 0.45 * fps)`` (always below Nyquist)."""
    return float(min(cutoff_hz, MAX_CUTOFF_FRACTION * fps))


def _default_padlen(sos: np.ndarray) -> int:
    # The padding sosfiltfilt uses when padlen is not given (same formula as scipy.signal).
    ntaps = 2 * sos.shape[0] + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * ntaps


def butterworth(x: np.ndarray, fps: float, cutoff_hz: float, order: int) -> np.ndarray:
    """Zero-phase Butterworth low-pass of ``x`` (T, ...) sampled at ``fps``.

    ``sosfiltfilt`` runs forward then backward, so the output has no lag (amplitude response is
    the square of the filter's; -6 dB at the cut-off). The filter works on samples: callers with
    variable-frame-rate times pass ``fps = sample_rate(times)`` (1 / median dt). Each finite run of
    each column is filtered on its own, so NaNs stay where they are. A run shorter than the
    filter's default padding (3 x (2 x sections + 1), 15 samples at order 4) is filtered with
    ``padlen = len(run) - 1``; runs under 3 samples are left as they are.
    """
    if fps <= 0 or cutoff_hz <= 0 or order < 1:
        raise ValueError(f"need fps > 0, cutoff_hz > 0, order >= 1; got {fps}, {cutoff_hz}, {order}")
    sos = butter(order, butterworth_cutoff(fps, cutoff_hz), btype="low", fs=fps, output="sos")
    padlen = _default_padlen(sos)
    cols = _columns(x)  # (T, C)
    for c in range(cols.shape[1]):
        for start, stop in _finite_runs(cols[:, c]):
            n = stop - start
            if n >= MIN_FILTER_RUN:
                cols[start:stop, c] = sosfiltfilt(sos, cols[start:stop, c], padlen=min(padlen, n - 1))
    return cols.reshape(np.shape(x))


# ---------------------------------------------------------------------------------- One-Euro


def _alpha(cutoff: np.ndarray | float, dt: np.ndarray) -> np.ndarray:
    """Smoothing factor of a first-order low-pass at ``cutoff`` Hz over a step of ``dt`` s."""
    r = 2.0 * np.pi * cutoff * dt
    return r / (r + 1.0)


class OneEuroFilter:
    """One-Euro filter (Casiez, Roussel, Vogel, CHI 2012), written here: no library we use has it.

    A first-order low-pass whose cut-off rises with speed: ``min_cutoff + beta * |dx/dt|``, the
    speed itself low-passed at ``d_cutoff``. Small ``min_cutoff`` removes jitter at rest; larger
    ``beta`` removes lag in fast moves. Causal (each output uses past samples only) and driven by
    real timestamps, so it suits live use and variable frame rates.

    Call it with one sample at a time, ``f(x, t)``, ``x`` a scalar or an array of any fixed shape
    (each element filtered independently). An element that is NaN gives NaN and forgets its state:
    the next finite sample restarts the filter (it is returned unchanged).
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("One-Euro needs min_cutoff > 0, d_cutoff > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None  # last filtered value, NaN = no state
        self._dx: np.ndarray | None = None  # last filtered speed
        self._t: np.ndarray | None = None  # time of the last finite sample, per element

    def __call__(self, x: Any, t: float) -> Any:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx, self._t = np.full(x.shape, np.nan), np.zeros(x.shape), np.full(x.shape, np.nan)
        if x.shape != self._x.shape:
            raise ValueError(f"sample shape changed from {self._x.shape} to {x.shape}; call reset()")
        step = np.isfinite(x) & np.isfinite(self._x)  # elements that continue; others (re)start
        dt = t - self._t
        if np.any(step & ~(dt > 0)):
            raise ValueError(f"timestamps must increase (t={t})")
        dt = np.where(step, dt, 1.0)  # placeholder where unused: keeps the arithmetic finite
        dx_hat = self._dx + _alpha(self.d_cutoff, dt) * ((x - self._x) / dt - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
        x_hat = np.where(step, self._x + _alpha(cutoff, dt) * (x - self._x), x)
        self._x = x_hat  # NaN where x is NaN: that element restarts next time
        self._dx = np.where(step, dx_hat, 0.0)
        self._t = np.where(np.isfinite(x), t, np.nan)
        return x_hat if x_hat.ndim else float(x_hat)


def one_euro(x: np.ndarray, times: np.ndarray, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    """Run a ``OneEuroFilter`` along axis 0 of ``x`` (T, ...) at the real ``times`` (T,)."""
    x = np.asarray(x, dtype=np.float64)
    t = _check_times(times, x.shape[0])
    f = OneEuroFilter(min_cutoff, beta, d_cutoff)
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = f(x[i], t[i])
    return out


# ------------------------------------------------------------------------------- swap repair


def lr_chains(skeleton_name: str) -> dict[str, list[tuple[int, int]]]:
    """{"leg": [(left, right), ...], "arm": [...]}: the layout's left/right pairs per limb chain."""
    skel = get_skeleton(skeleton_name)
    by_part = {skel.joints[left][len("left_"):]: (left, right) for left, right in skel.lr_pairs}
    chains = {name: [by_part[p] for p in parts if p in by_part]
              for name, parts in (("leg", LEG_CHAIN), ("arm", ARM_CHAIN))}
    return {name: pairs for name, pairs in chains.items() if pairs}


def _body_size(kp: np.ndarray) -> float:
    """Median over frames of the diagonal of the bounding box of the present joints (pixels)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without any joint
        extent = np.nanmax(kp, axis=1) - np.nanmin(kp, axis=1)  # (T, 2)
    diag = np.hypot(extent[:, 0], extent[:, 1])
    diag = diag[np.isfinite(diag) & (diag > 0)]
    return float(np.median(diag)) if diag.size else 0.0


def _prediction_costs(
    left: np.ndarray, right: np.ndarray, seen: np.ndarray, frames: np.ndarray
) -> np.ndarray:
    """(N, 2, 2, 2) cost[k, a, b, c] of labelling states a, b, c at observed frames k-2, k-1, k.

    State 0 keeps the labels, 1 swaps them. Frame k (labelled c) is compared with a
    constant-velocity prediction from frames k-1 (b) and k-2 (a): position continuity alone
    mistakes two limbs crossing fast (legs passing each other) for a swap. The velocity term is
    used only for pairs seen in three consecutive video frames, else the prediction is the last
    position. The cost is the mean over the pairs seen at k-1 and k of the distance, both sides
    summed. Row 0 is 0. ``left``/``right``: (N, P, 2); ``seen``: (N, P); ``frames``: (N,) indices.
    """
    lab = np.stack([np.stack([left, right], 1), np.stack([right, left], 1)])  # (2 states, N, 2 sides, P, 2)
    step1 = np.diff(frames, prepend=frames[0] - 2) == 1  # (N,) frame k-1 is the video's previous one
    use = seen & np.roll(seen, 1, 0) & np.roll(seen, 2, 0) & (step1 & np.roll(step1, 1))[:, None]
    use[:2] = False  # (N, P): pairs with a usable velocity
    common = seen & np.roll(seen, 1, 0)  # (N, P): pairs compared
    common[0] = False
    count = np.maximum(common.sum(axis=1), 1)  # (N,)
    cost = np.zeros((len(frames), 2, 2, 2))
    for a in (0, 1):
        for b in (0, 1):
            prev, prev2 = np.roll(lab[b], 1, 0), np.roll(lab[a], 2, 0)  # (N, 2, P, 2) frames k-1, k-2
            pred = prev + np.where(use[:, None, :, None], prev - prev2, 0.0)
            dist = np.linalg.norm(lab[0] - pred, axis=-1)  # (N, 2, P), current frame as detected
            # relabelling all three frames at once changes nothing: cost[a, b, 1] = cost[1-a, 1-b, 0]
            mean = np.where(common[:, None], dist, 0.0).sum(axis=(1, 2)) / count  # (N,)
            cost[:, a, b, 0] = cost[:, 1 - a, 1 - b, 1] = mean
    return cost


def _label_path(cost: np.ndarray, prior: float) -> np.ndarray:
    """Viterbi: (N,) states minimising the summed ``cost[k, s[k-2], s[k-1], s[k]]`` (N, 2, 2, 2)
    plus ``prior`` per swapped frame; ties keep the labels as detected.

    Search states are the pairs (s[k-1], s[k]); frame 0 gets a dummy predecessor in state 0.
    """
    n = cost.shape[0]  # >= 2
    step = cost + prior * np.array([0.0, 1.0])  # (N, a, b, c): prior on the new frame's state c
    acc = np.array([[0.0, prior], [np.inf, np.inf]])  # acc[a, b]: best cost with s[k-1]=a, s[k]=b
    back = np.zeros((n, 2, 2), dtype=np.int64)  # back[k, b, c] = best a
    for k in range(1, n):
        total = acc[:, :, None] + step[k]  # (a, b, c)
        back[k] = np.argmin(total, axis=0)  # argmin keeps the first (state 0) on ties
        acc = total.min(axis=0)
    states = np.zeros(n, dtype=np.int64)
    states[n - 2 :] = np.unravel_index(np.argmin(acc), acc.shape)
    for k in range(n - 1, 1, -1):
        states[k - 2] = back[k, states[k - 1], states[k]]
    return states


def _path_cost(cost: np.ndarray, states: np.ndarray, lo: int, hi: int) -> float:
    """Sum of the (N, 2, 2, 2) ``cost`` terms k in [lo, hi) along ``states`` (no prior)."""
    k = np.arange(max(lo, 1), hi)
    return float(cost[k, states[k - 2], states[k - 1], states[k]].sum())  # row 1 ignores s[k-2]


def _drop_weak_swaps(states: np.ndarray, cost: np.ndarray, min_gain: float) -> np.ndarray:
    """Keep a run of swapped frames only if it lowers the path cost by more than ``min_gain``."""
    states = states.copy()
    edges = np.diff(np.concatenate(([0], states, [0])))
    for i, j in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):  # run [i, j)
        lo, hi = i, min(j + 2, len(states))  # the terms that see frames of the run
        kept = states.copy()
        kept[i:j] = 0
        if _path_cost(cost, kept, lo, hi) - _path_cost(cost, states, lo, hi) <= min_gain:
            states = kept
    return states


def _chain_swaps(left: np.ndarray, right: np.ndarray, scale: float) -> np.ndarray:
    """(T,) bool: frames whose (T, P, 2) left/right chain should be swapped back."""
    seen = _present(left) & _present(right)  # (T, P): both sides of the pair present
    frames = np.flatnonzero(seen.any(axis=1))  # frames that carry evidence
    flip = np.zeros(left.shape[0], dtype=bool)
    if frames.size < 2:
        return flip
    cost = _prediction_costs(left[frames], right[frames], seen[frames], frames) / scale
    states = _drop_weak_swaps(_label_path(cost, SWAP_PRIOR), cost, SWAP_MIN_GAIN)
    flip[frames] = states.astype(bool)
    return flip


def _swap_permutation(keypoints: np.ndarray, skeleton_name: str) -> np.ndarray:
    """(T, V) int: per frame, the joint order that undoes the detected left/right swaps."""
    kp = np.asarray(keypoints, dtype=np.float64)
    perm = np.tile(np.arange(kp.shape[1]), (kp.shape[0], 1))  # (T, V) identity
    scale = _body_size(kp) if kp.shape[0] else 0.0
    if not scale > 0:
        return perm
    for pairs in lr_chains(skeleton_name).values():
        left, right = (np.array(side) for side in zip(*pairs))  # (P,) each
        rows = np.flatnonzero(_chain_swaps(kp[:, left], kp[:, right], scale))[:, None]
        perm[rows, left], perm[rows, right] = right, left
    return perm


def _permute(a: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Reorder axis 1 of ``a`` (T, V, ...) per frame with ``perm`` (T, V)."""
    return a[np.arange(a.shape[0])[:, None], perm]


def repair_lr_swaps(keypoints: np.ndarray, skeleton_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Undo left/right identity swaps of whole limb chains in (T, V, 2) keypoints.

    Written here (no library does it). Chains: the leg (hip, knee, ankle, heel, foot_index) and
    the arm (shoulder, elbow, wrist, pinky, index, thumb), each as far as the layout has them;
    face pairs are ignored. Each chain is labelled per frame "as detected" or "swapped":

    1. cost: each frame is compared with a constant-velocity prediction from the two frames
       before it (the previous position after a missing frame), in body sizes; comparing with
       the previous position alone would take two limbs crossing fast for a swap;
    2. a Viterbi pass picks the labelling of every frame minimising the summed cost plus
       ``SWAP_PRIOR`` per swapped frame (ties and even evidence keep the estimator's labels, so a
       track is never flipped as a whole; one wrong local decision cannot flip the rest of it);
    3. margin: each run of swapped frames is kept only if it lowers the total cost by more than
       ``SWAP_MIN_GAIN`` (0.25 body size); otherwise the frames stay as detected.

    Frames where no left/right pair of the chain is seen are not changed.

    Returns (keypoints, swapped_frames (T,) bool: at least one chain swapped back).
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    perm = _swap_permutation(kp, skeleton_name)
    swapped = (perm != np.arange(kp.shape[1])).any(axis=1)
    return _permute(kp, perm), swapped


# ------------------------------------------------------------------------------ orchestrator


def _smooth(
    kp: np.ndarray, times: np.ndarray, s: CleaningSettings
) -> tuple[np.ndarray, str, float | None, float | None]:
    """Apply ``s.filter``; returns (keypoints, filter applied, effective cutoff, fps)."""
    fps = sample_rate(times)
    if s.filter == "none" or kp.shape[0] < 2 or not fps > 0:
        return kp, "none", None, None
    if s.filter == "oneeuro":
        kp = one_euro(kp, times, s.oneeuro_min_cutoff, s.oneeuro_beta, s.oneeuro_d_cutoff)
        return kp, "oneeuro", None, fps
    cutoff = butterworth_cutoff(fps, s.cutoff_hz)
    return butterworth(kp, fps, s.cutoff_hz, s.order), "butterworth", cutoff, fps


def identity_breaks(keypoints: np.ndarray, max_jump: float = 0.75, max_scale: float = 1.8) -> np.ndarray:
    """(T,) bool: True where a frame starts a new identity segment.

    A single-person estimator can jump from one person to another between frames. We call it a
    jump when, from one detected frame to the next, the pose's centre (median of its joints) moves
    more than ``max_jump`` body sizes (bounding-box diagonal) or its size changes by more than
    ``max_scale`` times. Real movement is far slower: at 30 fps a sprinter's centre moves about
    0.05 body sizes per frame. Frames with no joint are skipped (compared with the last detected one).
    """
    T = keypoints.shape[0]
    breaks = np.zeros(T, dtype=bool)
    present = np.isfinite(keypoints).all(axis=-1)  # (T, V)
    prev_c, prev_s = None, None
    for t in np.flatnonzero(present.sum(axis=1) >= 3):
        pts = keypoints[t][present[t]]  # (n, 2)
        c = np.median(pts, axis=0)
        size = float(np.hypot(*(pts.max(axis=0) - pts.min(axis=0))))
        if prev_c is not None and size > 0 and prev_s > 0:
            ratio = max(size, prev_s) / min(size, prev_s)
            breaks[t] = np.hypot(*(c - prev_c)) > max_jump * max(size, prev_s) or ratio > max_scale
        prev_c, prev_s = c, size
    return breaks


def clean_track(track: PoseTrack, settings: CleaningSettings) -> tuple[PoseTrack, CleaningReport]:
    """Cut the track where the estimator jumped to another person, then clean each identity
    segment on its own (threshold -> swap repair -> Hampel -> gaps -> filter; see the module doc).

    The cleaned track keeps the raw scores (moved with their joints when a swap is repaired;
    interpolated joints keep their raw, low, score) except that a joint still missing scores 0.
    Its ``segment`` numbers the identity segments.
    """
    if settings.filter not in FILTERS:
        raise ValueError(f"unknown cleaning filter {settings.filter!r}; valid: {', '.join(FILTERS)}")
    kp0 = apply_threshold(track.keypoints, track.scores, settings.min_score)  # (T, V, 2)
    segment = np.cumsum(identity_breaks(kp0))  # (T,)
    tagged = replace(track, segment=segment)
    parts = [_clean_segment(tagged.slice(sl.start, sl.stop), settings) for sl in tagged.segment_slices()]
    if not parts:
        return _clean_segment(tagged, settings)
    kp = np.concatenate([p.keypoints for p, _ in parts])
    scores = np.concatenate([p.scores for p, _ in parts])
    return tagged.with_data(kp, scores), _merge_reports([r for _, r in parts], int(segment[-1]) + 1)


def _merge_reports(reports: list[CleaningReport], segments: int) -> CleaningReport:
    counts = ("frames", "missing_input", "thresholded", "swaps_repaired", "outliers", "interpolated",
              "remaining_missing")
    merged = replace(reports[0], **{k: sum(getattr(r, k) for r in reports) for k in counts})
    filters = [r for r in reports if r.filter != "none"]
    if filters:  # the longest segment's filter facts describe the run
        best = max(filters, key=lambda r: r.frames)
        merged = replace(merged, filter=best.filter, cutoff_hz=best.cutoff_hz, fps=best.fps)
    merged.identity_segments = segments
    return merged


def _clean_segment(track: PoseTrack, settings: CleaningSettings) -> tuple[PoseTrack, CleaningReport]:
    raw_present = track.present()  # (T, V)
    kp = apply_threshold(track.keypoints, track.scores, settings.min_score)  # (T, V, 2)
    thresholded = int((raw_present & ~_present(kp)).sum())
    scores = track.scores.copy()  # (T, V)
    swapped = np.zeros(track.num_frames, dtype=bool)
    if settings.repair_swaps:
        perm = _swap_permutation(kp, track.skeleton)
        kp, scores = _permute(kp, perm), _permute(scores, perm)
        swapped = (perm != np.arange(track.num_joints)).any(axis=1)
    kp, outlier = hampel(kp, settings.hampel_window, settings.hampel_sigmas, points=True)
    before_fill = _present(kp)
    kp = interpolate_gaps(kp, track.times, settings.max_gap_s)
    interpolated = int((_present(kp) & ~before_fill).sum())
    kp, used, cutoff, fps = _smooth(kp, track.times, settings)
    present = _present(kp)
    report = CleaningReport(
        frames=track.num_frames, joints=track.num_joints,
        missing_input=int((~raw_present).sum()), thresholded=thresholded,
        swaps_repaired=int(swapped.sum()), outliers=int(outlier.any(axis=-1).sum()),
        interpolated=interpolated, remaining_missing=int((~present).sum()),
        filter=used, cutoff_hz=cutoff, fps=fps,
    )
    return track.with_data(kp, np.where(present, scores, 0.0)), report
