"""GRU sequence-to-sequence pose forecaster (baseline of issue 6; Martinez et al., CVPR 2017, "On human
motion prediction using recurrent neural networks": residual GRU decoder fed its own predictions).

Input and output (a ``ForecastModel``): ``x`` (B, T_obs, V, 3) normalised observed poses plus visibility
(``sportlens.forecast.training.normalize_observed``) -> (B, horizon, V, 2) future poses, same frame.

Data flow (B windows, T = T_obs, V joints, D = ``hidden``)::

    x (B,T,V,3) -> flatten joints (B,T,3V) -> Linear+ReLU (B,T,D) -> encoder GRU -> h (1,B,D)
    decoder, t = 0..horizon-1: input [P^(t) (2V), P^(t) - P^(t-1) (2V)] -> GRUCell -> h (B,D)
        P^(t+1) = P^(t) + Linear(h)  (residual: the output layer starts at zero = zero velocity)

Decisions: one encoder layer (the windows are short: 10 frames); the decoder sees its own previous
prediction (no teacher forcing at training either, as in Martinez et al.'s "sampling-based loss", so
training and test see the same inputs); no joint graph (the point of this baseline: what a plain
recurrent model does without MS-GCN's skeleton structure).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._common import ForecastModel
from .registry import register_model


class Seq2Seq(ForecastModel):
    """GRU encoder-decoder with residual pose updates (module docstring)."""

    def __init__(self, skeleton: str = "penn13", num_frames: int = 10, horizon: int = 16, hidden: int = 256) -> None:
        super().__init__(skeleton=skeleton, num_frames=num_frames, horizon=horizon, in_channels=3)
        V, self.hidden = self.num_joints, int(hidden)
        self.embed = nn.Sequential(nn.Linear(3 * V, hidden), nn.ReLU())
        self.encoder = nn.GRU(hidden, hidden, batch_first=True)
        self.decoder = nn.GRUCell(4 * V, hidden)
        self.out = nn.Linear(hidden, 2 * V)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)  # starts as the zero-velocity forecast

    def forward(self, x: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
        x = self.check_input(x)  # (B, T, V, 3)
        B, T, V, _ = x.shape
        H = self.horizon if horizon is None else int(horizon)
        _, h = self.encoder(self.embed(x.reshape(B, T, 3 * V)))  # h (1, B, D)
        h = h[0]  # (B, D)
        p = x[:, -1, :, :2].reshape(B, 2 * V)  # (B, 2V)  last observed pose
        v = (x[:, -1, :, :2] - x[:, -2, :, :2]).reshape(B, 2 * V) if T > 1 else torch.zeros_like(p)  # (B, 2V)
        outs = []
        for _ in range(H):
            h = self.decoder(torch.cat([p, v], -1), h)  # (B, D)
            v = self.out(h)  # (B, 2V)  residual = the predicted displacement
            p = p + v  # (B, 2V)
            outs.append(p.reshape(B, V, 2))
        return torch.stack(outs, 1)  # (B, H, V, 2)


@register_model
def seq2seq(skeleton: str = "penn13", num_frames: int = 10, horizon: int = 16, hidden: int = 256) -> Seq2Seq:
    """GRU seq2seq pose forecaster (Martinez et al. 2017): (B, num_frames, V, 3) -> (B, horizon, V, 2)."""
    return Seq2Seq(skeleton=skeleton, num_frames=num_frames, horizon=horizon, hidden=hidden)
