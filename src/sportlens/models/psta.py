"""PSTA: parallel spatial-temporal attention over joint tokens (seed 001, eq. 4-5).

Source: seed ``001_hicnn_psta_msgcn_pose_forecasting.txt`` (HICNN-PSTA, sec III.B, Fig. 2):
- eq. 4: ``MSA(Q, K, V) = softmax(Q K^T / sqrt(C)) V`` (scaled dot-product attention; with several
  heads C is the per-head channel count, as in the vanilla multi-head attention it "originates from");
- the input embedding ``E in R^{T x N x C}`` (N = joints) is mapped to Q, K, V of the same size; the
  mapped tensors are split evenly along channels into a time group {Q_T, K_T, V_T} and a space
  group {Q_S, K_S, V_S};
- eq. 5: ``H_T = MSA(Q_T, K_T, V_T)`` attends over the T axis (per joint), ``H_S = MSA(Q_S, K_S, V_S)``
  over the N axis (per frame), ``H = cat(H_T, H_S)``.
The seed uses PSTA on CNN features of RGB frames; here the tokens are the joints of the pose sequence.
Around it: an output projection, and a pre-norm transformer block (x + PSTA(LN x); x + MLP(LN x)).
The joint embedding is a Linear on each joint's C channels plus learned temporal and joint positional
embeddings (the temporal one is linearly resampled when T differs from ``num_frames``).

Inspection: with ``keep_attention = True`` on a :class:`PSTAttention` (an instance attribute, off by
default; ``sportlens.explain`` switches it on for one forward pass), ``last_attention`` holds the time
group's weights softmax(Q_T K_T^T / sqrt(d)) of the last forward pass, detached, (B, N, heads, T, T).
They are computed separately from the fused attention kernel, so the outputs do not change, and
not at all by default (training pays nothing for it).

Data flow::

    x (B,T,V,C) -> Linear(C, dim) per joint (or, stem_stride s > 1, Conv over T, stride s: T' = ceil(T/s))
      + pos_t (T',dim) + pos_j (V,dim) -> E (B,T',V,dim)
      -> [block: LN -> Linear(dim, 3 dim) -> Q,K,V
                 channels [:dim/2] -> time group : MSA over T for each joint  -> H_T (B,T,V,dim/2)
                 channels [dim/2:] -> space group: MSA over V for each frame  -> H_S (B,T,V,dim/2)
                 H = cat(H_T, H_S) -> Linear(dim, dim) -> Dropout -> + residual
                 LN -> MLP -> + residual] x depth
      -> LN -> mean over T and V (B, dim) -> Dropout -> Linear -> (B, num_classes)
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import SkeletonModel, interpolate_time
from .registry import register_model


class PSTAttention(nn.Module):
    """Eq. 4-5: decoupled temporal / spatial multi-head self-attention on split channel groups."""

    keep_attention = False  # class default; set True on an instance to record the time-group weights

    def __init__(self, dim: int, heads: int = 2, attn_dropout: float = 0.0, proj_dropout: float = 0.0) -> None:
        super().__init__()
        if dim % 2 or (dim // 2) % heads:
            raise ValueError(f"dim ({dim}) must be even and dim/2 divisible by heads ({heads})")
        self.heads = heads  # heads per group
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attn_dropout = attn_dropout
        self.proj_drop = nn.Dropout(proj_dropout)
        self.last_attention: torch.Tensor | None = None  # (B, N, heads, T, T) when keep_attention

    def _time_weights(self, q: torch.Tensor, k: torch.Tensor, b: int) -> torch.Tensor:
        """Eq. 4's softmax over the time axis for (B*N, T, Cg) q, k -> (B, N, heads, T, T), detached."""
        m, length, cg = q.shape
        h = self.heads
        q, k = (z.detach().reshape(m, length, h, cg // h).transpose(1, 2) for z in (q, k))  # (M, h, T, Cg/h)
        w = (q @ k.transpose(-2, -1) / (cg // h) ** 0.5).softmax(dim=-1)  # (M, h, T, T)
        return w.reshape(b, m // b, h, length, length)

    def _msa(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Eq. 4 over the second-to-last axis of (M, L, Cg) tensors, multi-head."""
        m, length, cg = q.shape
        h = self.heads
        q, k, v = (z.reshape(m, length, h, cg // h).transpose(1, 2) for z in (q, k, v))  # (M, h, L, Cg/h)
        p = self.attn_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # softmax(QK^T/sqrt(Cg/h)) V
        return out.transpose(1, 2).reshape(m, length, cg)  # (M, L, Cg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, d = x.shape
        half = d // 2
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # each (B, T, N, D)
        # time group: attend over T for every joint
        qt, kt, vt = (z[..., :half].permute(0, 2, 1, 3).reshape(b * n, t, half)
                      for z in (q, k, v))  # (B*N, T, D/2)
        h_t = self._msa(qt, kt, vt).reshape(b, n, t, half).permute(0, 2, 1, 3)  # (B, T, N, D/2)
        if self.keep_attention:
            self.last_attention = self._time_weights(qt, kt, b)  # (B, N, heads, T, T)
        # space group: attend over N for every frame
        qs, ks, vs = (z[..., half:].reshape(b * t, n, half) for z in (q, k, v))  # (B*T, N, D/2)
        h_s = self._msa(qs, ks, vs).reshape(b, t, n, half)  # (B, T, N, D/2)
        h = torch.cat([h_t, h_s], dim=-1)  # (B, T, N, D): eq. 5, H = cat(H_T, H_S)
        return self.proj_drop(self.proj(h))


class PSTABlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        # no dropout on the (B*N, h, T, T) attention maps: on CPU it costs more than the attention itself
        self.attn = PSTAttention(dim, heads, attn_dropout=0.0, proj_dropout=dropout)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))  # (B, T, N, D)
        return x + self.mlp(self.norm2(x))  # (B, T, N, D)


class PSTANet(SkeletonModel):
    def __init__(self, num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5,
                 num_frames: int = 32, dim: int = 64, depth: int = 3, heads: int = 2,
                 mlp_ratio: float = 2.0, dropout: float = 0.1, head_dropout: float = 0.3,
                 stem_stride: int = 1) -> None:
        super().__init__(num_classes, skeleton, in_channels, num_frames)
        if stem_stride < 1:
            raise ValueError(f"stem_stride must be >= 1, got {stem_stride}")
        # stride 1: the per-joint Linear of the seed's embedding. stride s > 1: a per-joint temporal
        # convolution (kernel 2s+1, stride s) embeds short motion snippets and divides the token count,
        # and so the cost of every block, by s (the time-attention maps by s^2).
        self.embed = (nn.Linear(in_channels, dim) if stem_stride == 1 else
                      nn.Conv2d(in_channels, dim, (2 * stem_stride + 1, 1), stride=(stem_stride, 1),
                                padding=(stem_stride, 0)))
        self.stem_stride = stem_stride
        self.pos_t = nn.Parameter(torch.zeros(-(-num_frames // stem_stride), dim))
        self.pos_j = nn.Parameter(torch.zeros(self.num_joints, dim))
        nn.init.trunc_normal_(self.pos_t, std=0.02)
        nn.init.trunc_normal_(self.pos_j, std=0.02)
        self.blocks = nn.ModuleList(PSTABlock(dim, heads, mlp_ratio, dropout) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head_drop = nn.Dropout(head_dropout)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_input(x)
        if self.stem_stride == 1:
            e = self.embed(x)  # (B, T, V, C) -> (B, T, V, D)
        else:
            e = self.embed(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)  # (B, C, T, V) -> (B, T', V, D)
        t = e.shape[1]
        e = e + interpolate_time(self.pos_t, t)[None, :, None, :] + self.pos_j[None, None]  # (B, T, V, D)
        h = e
        for blk in self.blocks:
            h = blk(h)  # (B, T, V, D)
        g = self.norm(h).mean(dim=(1, 2))  # (B, D)
        return self.fc(self.head_drop(g))  # (B, num_classes)


@register_model
def psta(num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5, num_frames: int = 32,
         dim: int = 64, depth: int = 3, heads: int = 2, mlp_ratio: float = 2.0, dropout: float = 0.1,
         head_dropout: float = 0.3, stem_stride: int = 1) -> PSTANet:
    """Joint embedding + PSTA blocks (seed 001 eq. 4-5); ``heads`` is per channel group;
    ``stem_stride`` > 1 embeds with a strided temporal convolution (fewer, richer tokens)."""
    return PSTANet(num_classes, skeleton, in_channels, num_frames, dim=dim, depth=depth, heads=heads,
                   mlp_ratio=mlp_ratio, dropout=dropout, head_dropout=head_dropout, stem_stride=stem_stride)
