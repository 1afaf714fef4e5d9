"""DCT + graph-convolution pose forecaster in the spirit of Traj-GCN (Mao et al., ICCV 2019, "Learning
Trajectory Dependencies for Human Motion Prediction"; seed 001's strongest competitor), baseline of issue 6.

Input and output (a ``ForecastModel``): ``x`` (B, T_obs, V, 3) normalised observed poses plus visibility
(``sportlens.forecast.training.normalize_observed``) -> (B, horizon, V, 2) future poses, same frame.

Data flow (B windows, T = T_obs, H = horizon, N = T + H, K = ``dct_k`` <= N, V joints, C = 2V nodes)::

    x (B,T,V,3) -> positions (B,T,V,2), last pose repeated H times -> padded (B,N,V,2)
      -> one node per coordinate trajectory (B,C,N) -> DCT over time, first K coefficients (B,C,K)
      -> node features [DCT (K), mean visibility of the node's joint over the window (1)] (B,C,K+1)
      -> GC (B,C,D) -> ``blocks`` x residual [GC-LN-tanh-GC-LN-tanh] (B,C,D) -> GC (B,C,K)
      -> + the input DCT (residual: the network starts as the zero-velocity forecast)
      -> inverse DCT (B,C,N) -> last H frames (B,H,V,2)

Each GC layer is ``A X W`` with a trainable node adjacency A (C, C) (Mao et al.: fully learnable).
Decisions: A starts from the skeleton (coordinates of a joint and of its neighbours linked, row-normalised)
rather than at random, so short trainings on this CPU start from a sensible graph; LayerNorm instead of
BatchNorm over the flattened nodes (same role, independent of the batch size at inference); the mean
visibility feature is what tells protocol A (one observed pose, the rest padded with visibility 0) from
a genuinely static observed window, whose DCT is identical.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from ._common import ForecastModel
from .registry import register_model


def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix (n, n): ``coeffs = D @ signal``, ``signal = D.T @ coeffs``."""
    k = np.arange(n)[:, None]  # (n, 1)
    i = np.arange(n)[None, :]  # (1, n)
    d = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))  # (n, n)
    d[0] /= math.sqrt(2.0)
    return d.astype(np.float32)


class GraphConvolution(nn.Module):
    """Traj-GCN GC layer: ``A X W + b`` with a trainable adjacency A (C, C) over the coordinate nodes."""

    def __init__(self, adjacency: np.ndarray, c_in: int, c_out: int) -> None:
        super().__init__()
        self.A = nn.Parameter(torch.tensor(adjacency))  # (C, C)
        self.W = nn.Linear(c_in, c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, C, F)
        return torch.matmul(self.A, self.W(x))  # (B, C, c_out)


class GCBlock(nn.Module):
    """Residual block of two GC layers, each followed by LayerNorm and tanh (Mao et al. fig 2)."""

    def __init__(self, adjacency: np.ndarray, hidden: int, dropout: float) -> None:
        super().__init__()
        self.gc1, self.gc2 = GraphConvolution(adjacency, hidden, hidden), GraphConvolution(adjacency, hidden, hidden)
        self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (B, C, D)
        y = self.drop(torch.tanh(self.ln1(self.gc1(x))))  # (B, C, D)
        y = self.drop(torch.tanh(self.ln2(self.gc2(y))))  # (B, C, D)
        return x + y  # (B, C, D)


class TrajGCN(ForecastModel):
    """DCT trajectory encoding + residual graph convolutions (module docstring)."""

    def __init__(self, skeleton: str = "penn13", num_frames: int = 10, horizon: int = 16, hidden: int = 128,
                 blocks: int = 2, dct_k: int | None = None, dropout: float = 0.1) -> None:
        super().__init__(skeleton=skeleton, num_frames=num_frames, horizon=horizon, in_channels=3)
        n = num_frames + horizon
        self.dct_k = n if dct_k is None else int(dct_k)
        if not 1 <= self.dct_k <= n:
            raise ValueError(f"dct_k must be in 1..{n}, got {dct_k}")
        d = dct_matrix(n)  # (N, N)
        self.register_buffer("dct", torch.tensor(d[:self.dct_k]))  # (K, N)
        self.register_buffer("idct", torch.tensor(d[:self.dct_k].T.copy()))  # (N, K)
        a = self.layout.adjacency(self_loops=True).astype(np.float32)  # (V, V)
        a = np.kron(a, np.ones((2, 2), np.float32))  # (2V, 2V): x and y of linked joints
        a = a / a.sum(1, keepdims=True)  # row-normalised
        self.inp = GraphConvolution(a, self.dct_k + 1, hidden)
        self.blocks = nn.ModuleList(GCBlock(a, hidden, dropout) for _ in range(blocks))
        self.out = GraphConvolution(a, hidden, self.dct_k)
        nn.init.zeros_(self.out.W.weight)
        nn.init.zeros_(self.out.W.bias)  # starts as the zero-velocity forecast

    def forward(self, x: torch.Tensor, horizon: int | None = None) -> torch.Tensor:
        x = self.check_input(x)  # (B, T, V, 3)
        B, T, V, _ = x.shape
        H = self.horizon if horizon is None else int(horizon)
        if T != self.num_frames or H > self.horizon:
            # the DCT basis is fixed by num_frames + horizon: pad/cut the window to the trained length
            if T < self.num_frames:
                pad = x[:, :1].expand(-1, self.num_frames - T, -1, -1).clone()  # (B, num_frames - T, V, 3)
                pad[..., 2] = 0.0
                x = torch.cat([pad, x], 1)  # (B, num_frames, V, 3)
            x = x[:, -self.num_frames:]  # (B, num_frames, V, 3)
            if H > self.horizon:
                raise ValueError(f"trajgcn was built for horizon <= {self.horizon}, asked {H}")
        pos, m = x[..., :2], x[..., 2]  # (B, T, V, 2), (B, T, V)
        seq = torch.cat([pos, pos[:, -1:].expand(-1, self.horizon, -1, -1)], 1)  # (B, N, V, 2)
        nodes = seq.reshape(B, -1, 2 * V).transpose(1, 2)  # (B, C, N)  node 2j = x of joint j, 2j+1 = y
        coef = torch.matmul(nodes, self.dct.t())  # (B, C, K)
        vis = m.mean(1).repeat_interleave(2, dim=1).unsqueeze(-1)  # (B, C, 1)
        h = self.inp(torch.cat([coef, vis], -1))  # (B, C, D)
        for blk in self.blocks:
            h = blk(h)  # (B, C, D)
        coef = coef + self.out(h)  # (B, C, K)  residual in the DCT domain
        traj = torch.matmul(coef, self.idct.t())  # (B, C, N)
        out = traj.transpose(1, 2).reshape(B, -1, V, 2)  # (B, N, V, 2)
        return out[:, self.num_frames:self.num_frames + H]  # (B, H, V, 2)


@register_model
def trajgcn(skeleton: str = "penn13", num_frames: int = 10, horizon: int = 16, hidden: int = 128, blocks: int = 2,
            dct_k: int | None = None, dropout: float = 0.1) -> TrajGCN:
    """Traj-GCN-style DCT + GCN pose forecaster (Mao et al. 2019): (B, num_frames, V, 3) -> (B, horizon, V, 2)."""
    return TrajGCN(skeleton=skeleton, num_frames=num_frames, horizon=horizon, hidden=hidden, blocks=blocks,
                   dct_k=dct_k, dropout=dropout)
