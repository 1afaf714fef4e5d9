"""LSTM with temporal attention (seed 003, sec 3.2, eq. 2-7).

Source: seed ``003_cnn_lstm_biomechanics.txt`` (CNN-LSTM, sec 3.2):
- eq. 2-7: ``h_t = LSTM(f(x_t), h_{t-1})`` with input/forget/output gates and cell state (nn.LSTM
  implements exactly eq. 3-7); optionally bidirectional;
- "attention weights are calculated for each time step" (sec 1/3.2): additive temporal attention
  ``alpha_t = softmax_t(w^T tanh(W h_t + b))``, context ``c = sum_t alpha_t h_t``;
- sec 3.2 (1): BatchNorm on the LSTM's input (the per-frame feature vectors) and between the
  LSTM's hidden layers, Dropout on the hidden layers (the seed's example rate is 50 %).
The seed's f(x_t) are ResNet-50 features of frames; here f(x_t) is the flattened pose vector (V*C,
SportNet sec 2.4 encoding) after BatchNorm. ``self.last_attention`` (B, T) keeps the weights of the
last forward pass (detached) for interpretability (which frames decided the class).

Data flow::

    x (B,T,V,C) -> (B, T, V*C) -> BN over the V*C features
      -> [LSTM layer (B, T, H*dirs) -> BN -> Dropout] x num_layers          (eq. 2-7)
      -> scores w^T tanh(W h_t + b) (B, T) -> softmax over T -> alpha (B, T)
      -> context sum_t alpha_t h_t (B, H*dirs) -> Dropout -> Linear -> (B, num_classes)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._common import SkeletonModel
from .registry import register_model


def _bn_time(bn: nn.BatchNorm1d, h: torch.Tensor) -> torch.Tensor:
    """BatchNorm1d over the feature axis of a (B, T, F) tensor."""
    return bn(h.transpose(1, 2)).transpose(1, 2)  # (B, F, T) -> (B, T, F)


class LSTMAttention(SkeletonModel):
    def __init__(self, num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5,
                 num_frames: int = 32, hidden: int = 128, num_layers: int = 2,
                 bidirectional: bool = True, attn_dim: int = 128, dropout: float = 0.5) -> None:
        super().__init__(num_classes, skeleton, in_channels, num_frames)
        d_in = self.num_joints * in_channels
        dirs = 2 if bidirectional else 1
        self.input_bn = nn.BatchNorm1d(d_in)
        self.lstms = nn.ModuleList()
        self.bns = nn.ModuleList()
        for _ in range(num_layers):
            self.lstms.append(nn.LSTM(d_in, hidden, batch_first=True, bidirectional=bidirectional))
            self.bns.append(nn.BatchNorm1d(hidden * dirs))
            d_in = hidden * dirs
        self.drop = nn.Dropout(dropout)
        self.attn_proj = nn.Linear(d_in, attn_dim)  # W, b
        self.attn_vec = nn.Linear(attn_dim, 1, bias=False)  # w
        self.fc = nn.Linear(d_in, num_classes)
        self.last_attention: torch.Tensor | None = None  # (B, T)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_input(x)
        b, t, v, c = x.shape
        h = _bn_time(self.input_bn, x.reshape(b, t, v * c))  # (B, T, V*C)
        for lstm, bn in zip(self.lstms, self.bns):
            h, _ = lstm(h)  # (B, T, H*dirs): eq. 2-7
            h = self.drop(_bn_time(bn, h))  # (B, T, H*dirs)
        scores = self.attn_vec(torch.tanh(self.attn_proj(h))).squeeze(-1)  # (B, T)
        alpha = scores.softmax(dim=1)  # (B, T)
        self.last_attention = alpha.detach()
        ctx = (alpha.unsqueeze(-1) * h).sum(dim=1)  # (B, H*dirs)
        return self.fc(self.drop(ctx))  # (B, num_classes)


@register_model
def lstm_attn(num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5, num_frames: int = 32,
              hidden: int = 128, num_layers: int = 2, bidirectional: bool = True, attn_dim: int = 128,
              dropout: float = 0.5) -> LSTMAttention:
    """BN + (Bi)LSTM + additive temporal attention (seed 003 eq. 2-7); weights in ``last_attention``."""
    return LSTMAttention(num_classes, skeleton, in_channels, num_frames, hidden=hidden,
                         num_layers=num_layers, bidirectional=bidirectional, attn_dim=attn_dim,
                         dropout=dropout)
