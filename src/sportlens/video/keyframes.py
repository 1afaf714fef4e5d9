"""Key-frame selection by frame difference (seed 003, sec 3.1 (2), eq. 1).

Source: seed ``003_cnn_lstm_biomechanics.txt``: D_i = ||I_{i+1} - I_i||_2 (eq. 1), the Euclidean
distance between adjacent frames; "if D_i is greater than a certain threshold T, I_i is considered a
key frame", with T tuned per video. A model needs a fixed number of frames, so instead of a threshold
we keep the k frames with the largest D_i: the same as the threshold rule with T set just below the
k-th largest difference.

Data flow::

    frames (L, H, W, 3) uint8 -> D_i = ||I_{i+1} - I_i||_2 for i < L-1 (L-1,)   (eq. 1)
      -> the k largest, ties to the earlier frame -> sorted indices (k,) int64
"""
from __future__ import annotations

import numpy as np


def frame_differences(frames: np.ndarray) -> np.ndarray:
    """Eq. 1 for every adjacent pair: (L, H, W, C) -> (L-1,) float64, D_i = ||I_{i+1} - I_i||_2."""
    if frames.ndim != 4:
        raise ValueError(f"expected frames of shape (L, H, W, C), got {frames.shape}")
    out = np.empty(max(len(frames) - 1, 0), dtype=np.float64)
    for i in range(len(out)):  # pair by pair: a float copy of a whole clip would be large
        d = frames[i + 1].astype(np.int32) - frames[i].astype(np.int32)  # int32: uint8 would wrap around
        out[i] = np.sqrt(np.sum(d * d, dtype=np.float64))
    return out


def select_key_frames(frames: np.ndarray, k: int) -> np.ndarray:
    """Indices (k,) int64, ascending, of the k key frames of a clip (L, H, W, 3) uint8 (eq. 1).

    Frame i scores D_i = ||I_{i+1} - I_i||_2 (the seed assigns the difference to the earlier frame);
    the last frame has no successor and is picked only when k = L. Ties go to the earlier frame.
    Raises ``ValueError`` if k < 1 or k > L.
    """
    n = len(frames)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n} (the clip's frame count), got {k}")
    scores = np.append(frame_differences(frames), -np.inf)  # (L,): the last frame ranks last
    order = np.argsort(-scores, kind="stable")  # largest first; stable: earlier frame wins a tie
    return np.sort(order[:k]).astype(np.int64)  # (k,) in temporal order
