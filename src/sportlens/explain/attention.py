"""Temporal attention of the models that have one: which frames the model weighted.

One number per input frame, a distribution over time (sums to 1 per clip), read after a forward pass:

- ``cnn_lstm`` (and any model with a (B, T) ``last_attention``): the softmax weights alpha_t of its
  temporal attention (seed 003), exactly what the classifier's context vector sums with;
- ``two_stream`` (MHSSA, seed 004 eq. 10-14): the last temporal block of the RGB stream stores its
  (B, heads, T, T) sigmoid gates A[q, k]; a frame's weight is the attention it *receives*, the mean
  of A[:, :, k] over heads and query frames, normalised to sum 1 (sigmoid gates are not normalised
  over the keys, so the raw column means are not a distribution);
- ``psta`` (skeleton) and ``hicnn_psta`` (RGB) (seed 001 eq. 4-5): the time group of the last PSTA
  block (softmax over T per joint / image position). Recorded only while :func:`recording_attention`
  is active (``PSTAttention.keep_attention``). A frame's weight is the attention it receives, the
  mean over tokens (joints or positions), heads and query frames; each softmax row sums to 1, so the
  mean is already a distribution. A strided temporal stem (psta ``stem_stride`` s) attends over
  ceil(T/s) tokens: each token's weight is spread evenly over the s frames it embeds.

Models without temporal attention (sportnet averages its frames, c3d_attn's temporal attention gates
feature maps rather than weighting frames) give ``None``.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn as nn

from sportlens.models.mhssa import MultiHeadSigmoidAttention
from sportlens.models.psta import PSTAttention


@contextlib.contextmanager
def recording_attention(model: nn.Module):
    """Switch on the attention recording of the PSTA modules of ``model`` for the block (off again after:
    recording costs an extra (B*N, heads, T, T) softmax per forward pass)."""
    psta = [m for m in model.modules() if isinstance(m, PSTAttention)]
    for m in psta:
        m.keep_attention = True
    try:
        yield
    finally:
        for m in psta:
            m.__dict__.pop("keep_attention", None)  # back to the class default (False)
            m.last_attention = None


def _attention_root(model: nn.Module) -> nn.Module:
    """Where to look for attention modules: the RGB stream of a two-stream model, else the model."""
    rgb = getattr(model, "rgb", None)
    return rgb if isinstance(rgb, nn.Module) else model


def _received(weights: torch.Tensor) -> torch.Tensor:
    """(B, ..., T_query, T_key) attention -> (B, T_key): mean over every axis but the batch and keys."""
    w = weights.float()
    return w.reshape(w.shape[0], -1, w.shape[-1]).mean(dim=1)


def _raw_attention(model: nn.Module) -> torch.Tensor | None:
    """(B, T') weights of the last forward pass (not yet normalised or resampled), or None."""
    own = getattr(model, "last_attention", None)
    if isinstance(own, torch.Tensor) and own.dim() == 2:
        return own.float()
    root = _attention_root(model)
    found = [m.last_attention for m in root.modules()
             if isinstance(m, (MultiHeadSigmoidAttention, PSTAttention)) and m.last_attention is not None]
    return _received(found[-1]) if found else None  # the block closest to the classifier


def _to_frames(w: torch.Tensor, t: int) -> torch.Tensor:
    """(B, T') token weights -> (B, T) frame weights summing to 1: each token's weight spread evenly
    over the frames it covers (T' = ceil(T / s) tokens of s frames, the last one maybe shorter)."""
    b, tp = w.shape
    if tp != t:
        owner = torch.div(torch.arange(t) * tp, t, rounding_mode="floor")  # token of each frame
        counts = torch.bincount(owner, minlength=tp).clamp_min(1).float()  # frames per token
        w = (w / counts)[:, owner]
    w = w.clamp_min(0)
    total = w.sum(dim=1, keepdim=True)
    return torch.where(total > 0, w / total.clamp_min(1e-12), torch.full_like(w, 1.0 / t))


def has_temporal_attention(model: nn.Module) -> bool:
    """True when :func:`temporal_attention` can give weights for ``model``."""
    if "last_attention" in vars(model) or hasattr(type(model), "last_attention"):
        return True
    return any(isinstance(m, (MultiHeadSigmoidAttention, PSTAttention)) for m in _attention_root(model).modules())


def read_attention(model: nn.Module, num_frames: int) -> np.ndarray | None:
    """(B, T) weights over the T input frames from the model's last forward pass (run it inside
    :func:`recording_attention` for PSTA models), or None when it has no temporal attention."""
    w = _raw_attention(model)
    return None if w is None else _to_frames(w.detach().cpu(), num_frames).numpy()


def temporal_attention(model: nn.Module, inputs: dict[str, torch.Tensor]) -> np.ndarray | None:
    """Run ``model(**inputs)`` once (eval mode, no grad) and return its (B, T) weights over the frames
    of the first input (rgb (B, T, ...) or a skeleton x (B, T, V, C)), each row summing to 1; None when
    the model has no temporal attention. The model's train/eval mode is restored."""
    t = int(next(iter(inputs.values())).shape[1])
    was_training = model.training
    model.eval()
    try:
        with recording_attention(model), torch.no_grad():
            model(**inputs)
            return read_attention(model, t)
    finally:
        model.train(was_training)
