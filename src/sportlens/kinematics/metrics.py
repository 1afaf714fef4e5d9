"""Summary numbers over an ``AngleTable``: range of motion, peak angular velocity, symmetry.

Definitions (all in degrees or deg/s, over the frames where the angle could be measured):

- ``rom`` (range of motion) = 95th percentile - 5th percentile of the angle. Using percentiles
  rather than max - min keeps a single bad frame (a mis-detected joint) from inflating it.
  ``range`` = max - min is given too, with ``min``, ``max``, ``p05`` and ``p95``.
- peak velocity = the largest absolute angular velocity.
- symmetry index (Robinson et al. 1987, J Manipulative Physiol Ther 10(4):172-176), for each
  left/right pair of angles: SI = 100 * |ROM_L - ROM_R| / (0.5 * (ROM_L + ROM_R)), in percent,
  with ROM the robust ``rom`` above. 0 = both sides move through the same range; larger is more
  asymmetric (100 = one side's range is three times the other's; 200 = one side does not move).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from sportlens.jsonable import to_jsonable
from sportlens.types import AngleTable, PoseTrack

ROM_KEYS = ("min", "max", "range", "p05", "p95", "rom")


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)]


def _rom_of(x: np.ndarray) -> dict[str, float]:
    x = _finite(x)
    if x.size == 0:  # never measured: NaN (None in JSON), not 0, which would read as "no motion"
        return dict.fromkeys(ROM_KEYS, math.nan)
    p05, p95 = np.percentile(x, [5.0, 95.0])
    lo, hi = float(x.min()), float(x.max())
    return {"min": lo, "max": hi, "range": hi - lo, "p05": float(p05), "p95": float(p95), "rom": float(p95 - p05)}


def range_of_motion(table: AngleTable) -> dict[str, dict[str, float]]:
    """angle name -> {min, max, range, p05, p95, rom}; ``rom`` = p95 - p05 (robust)."""
    return {name: _rom_of(table.values[:, i]) for i, name in enumerate(table.names)}


EDGE_FRAMES = 2  # samples this close to the start/end of a measured run are left out of peaks


def peak_velocity(table: AngleTable) -> dict[str, float]:
    """angle name -> max |angular velocity| (deg/s); NaN if never measured.

    Samples within ``EDGE_FRAMES`` of either end of a run of measured frames are ignored: there the
    derivative is one-sided, the low-pass filter has no data on one side, and the pose estimator has
    just (re)acquired the person, so a single bad pose gives spurious peaks of thousands of deg/s.
    """
    out = {}
    for i, name in enumerate(table.names):
        v = table.velocity[:, i]
        inner = _away_from_run_edges(np.isfinite(v), EDGE_FRAMES)
        out[name] = float(np.abs(v[inner]).max()) if inner.any() else math.nan
    return out


def _away_from_run_edges(mask: np.ndarray, k: int) -> np.ndarray:
    """(T,) True where mask holds for the k samples before and after as well."""
    padded = np.concatenate([np.zeros(k, bool), mask, np.zeros(k, bool)])
    window = np.lib.stride_tricks.sliding_window_view(padded, 2 * k + 1)  # (T, 2k+1)
    return window.all(axis=1)


def lr_pairs(names: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """'knee_flexion' -> ('left_knee_flexion', 'right_knee_flexion') for every left/right pair."""
    return {n[5:]: (n, "right_" + n[5:]) for n in names if n.startswith("left_") and "right_" + n[5:] in names}


def symmetry(rom_left: float, rom_right: float) -> float:
    """Robinson symmetry index in percent; NaN if either side is unknown."""
    if not (math.isfinite(rom_left) and math.isfinite(rom_right)):
        return math.nan
    mean = 0.5 * (rom_left + rom_right)
    return 0.0 if mean == 0 else 100.0 * abs(rom_left - rom_right) / mean  # both still: symmetric


def symmetry_index(table: AngleTable) -> dict[str, float]:
    """pair name (e.g. 'knee_flexion') -> symmetry index (%) of the robust ROMs."""
    rom = range_of_motion(table)
    return {base: symmetry(rom[l]["rom"], rom[r]["rom"]) for base, (l, r) in lr_pairs(table.names).items()}


def summary_metrics(table: AngleTable, track: PoseTrack) -> dict[str, Any]:
    """JSON-serialisable summary: ROM, peak velocities, symmetry, and how much was measured.

    ``valid_fraction`` is the share of frames in which each angle could be measured.
    """
    times = np.asarray(table.times)
    valid = np.isfinite(table.values).mean(axis=0) if len(times) else np.zeros(len(table.names))  # (A,)
    return to_jsonable({
        "skeleton": track.skeleton,
        "frames": len(times),
        "duration_s": float(times[-1] - times[0]) if len(times) else 0.0,
        "range_of_motion": range_of_motion(table),
        "peak_velocity": peak_velocity(table),
        "symmetry_index": symmetry_index(table),
        "valid_fraction": dict(zip(table.names, valid)),
    })
