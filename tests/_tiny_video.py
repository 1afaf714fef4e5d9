"""Tiny video-model settings shared by the model and explanation tests (one CPU thread, seconds)."""
from __future__ import annotations

T, S = 4, 32  # frames, crop size
SMALL: dict[str, dict] = {
    "sportnet": dict(backbone="resnet18", width=8, hidden=32),
    "c3d_attn": dict(width=8),
    "cnn_lstm": dict(backbone="resnet18", width=8, hidden=32, attn_dim=16),
    "two_stream": dict(width=8, flow_stack=2),
    "hicnn_psta": dict(width=16, heatmap_size=8),
}
