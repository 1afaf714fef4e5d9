"""MHSSA: multi-head sigmoid self-attention over time (seed 004, eq. 10-14).

Source: seed ``004_two_stream_mhssa.txt`` (temporal stream, Fig. 6):
- eq. 10: ``Attention(Q_i, K_i, V_i) = Sigmoid(Q_i K_i^T / sqrt(d_k)) V_i`` per head i;
- eq. 11 writes ``Sigmoid(Q K^T / d_k) V`` without the square root. We use **sqrt(d_k)** (eq. 10):
  eq. 11 restates eq. 10 for the module as a whole, the cited source [29] is the scaled dot-product
  attention, and with 1/d_k the logits shrink with the head size so every gate sits near
  sigmoid(0) = 0.5 (an almost uniform, hard-to-train attention); 1/sqrt(d_k) keeps the logits'
  variance independent of d_k, which is the reason for the scale;
- eq. 12-14: heads concatenated and projected by ``W_o``.
The seed runs MHSSA on per-frame CNN features; here the frame features are an MLP embedding of the
flattened pose vector (V*C, the SportNet sec 2.4 encoding). Sigmoid gates are not normalised over the
keys, so a frame can attend to many frames at once (or to none), the paper's argument against the
"single centralisation" of softmax; ``attention="softmax"`` gives the paper's ablation baseline.
Each block is pre-norm: x + W_o MHSSA(LN x), then x + MLP(LN x).

Data flow::

    x (B,T,V,C) -> (B, T, V*C) -> Linear -> LN -> GELU -> Linear (frame embedding, dim) + pos_t
      -> [block: LN -> Q,K,V (B, heads, T, d_k)
                 A = Sigmoid(Q K^T / sqrt(d_k))  (B, heads, T, T)    (eq. 10; or softmax)
                 heads = A V -> concat (B, T, dim) -> W_o -> Dropout -> + residual   (eq. 12-14)
                 LN -> MLP -> + residual] x depth
      -> LN -> mean over T (B, dim) -> Dropout -> Linear -> (B, num_classes)
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ._common import SkeletonModel, interpolate_time
from .registry import register_model

ATTENTIONS = ("sigmoid", "softmax")


class MultiHeadSigmoidAttention(nn.Module):
    """Eq. 10-14: per-head Sigmoid(QK^T/sqrt(d_k)) V, heads concatenated and projected by W_o."""

    def __init__(self, dim: int, heads: int = 2, attention: str = "sigmoid", dropout: float = 0.0) -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {attention!r}; use one of {ATTENTIONS}")
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.heads, self.d_k, self.attention = heads, dim // heads, attention
        self.qkv = nn.Linear(dim, 3 * dim)
        self.w_o = nn.Linear(dim, dim)  # W_o of eq. 12-14
        self.attn_drop = nn.Dropout(dropout)
        self.last_attention: torch.Tensor | None = None  # (B, heads, T, T), detached

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, self.d_k).permute(2, 0, 3, 1, 4)  # (3, B, h, T, d_k)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (B, h, T, d_k)
        logits = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)  # (B, h, T, T)
        a = torch.sigmoid(logits) if self.attention == "sigmoid" else logits.softmax(dim=-1)
        self.last_attention = a.detach()
        heads = self.attn_drop(a) @ v  # (B, h, T, d_k): head_i, eq. 10
        heads = heads.transpose(1, 2).reshape(b, t, d)  # (B, T, h*d_k): Concat(head_1..head_n)
        return self.w_o(heads)  # (B, T, dim): eq. 12-14


class MHSSABlock(nn.Module):
    def __init__(self, dim: int, heads: int, attention: str, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSigmoidAttention(dim, heads, attention, dropout)
        self.drop = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))  # (B, T, D)
        return x + self.mlp(self.norm2(x))  # (B, T, D)


class MHSSANet(SkeletonModel):
    def __init__(self, num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5,
                 num_frames: int = 32, dim: int = 128, depth: int = 2, heads: int = 2,
                 attention: str = "sigmoid", mlp_ratio: float = 2.0, dropout: float = 0.1,
                 head_dropout: float = 0.3) -> None:
        super().__init__(num_classes, skeleton, in_channels, num_frames)
        self.attention = attention
        d_in = self.num_joints * in_channels
        self.embed = nn.Sequential(nn.Linear(d_in, dim), nn.LayerNorm(dim), nn.GELU(), nn.Linear(dim, dim))
        self.pos_t = nn.Parameter(torch.zeros(num_frames, dim))
        nn.init.trunc_normal_(self.pos_t, std=0.02)
        self.blocks = nn.ModuleList(MHSSABlock(dim, heads, attention, mlp_ratio, dropout)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head_drop = nn.Dropout(head_dropout)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_input(x)
        b, t, v, c = x.shape
        h = self.embed(x.reshape(b, t, v * c))  # (B, T, V*C) -> (B, T, D)
        h = h + interpolate_time(self.pos_t, t)[None]  # (B, T, D)
        for blk in self.blocks:
            h = blk(h)  # (B, T, D)
        g = self.norm(h).mean(dim=1)  # (B, D)
        return self.fc(self.head_drop(g))  # (B, num_classes)


@register_model
def mhssa(num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5, num_frames: int = 32,
          dim: int = 128, depth: int = 2, heads: int = 2, attention: str = "sigmoid",
          mlp_ratio: float = 2.0, dropout: float = 0.1, head_dropout: float = 0.3) -> MHSSANet:
    """Frame embedding + multi-head sigmoid self-attention over time (seed 004 eq. 10-14)."""
    return MHSSANet(num_classes, skeleton, in_channels, num_frames, dim=dim, depth=depth, heads=heads,
                    attention=attention, mlp_ratio=mlp_ratio, dropout=dropout, head_dropout=head_dropout)
