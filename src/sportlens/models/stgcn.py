"""ST-GCN: spatial-temporal graph convolution (Yan, Xiong & Lin, AAAI 2018).

Source: reference [18] of seed 000 (SportNet sec 1.4 names ST-GCN as the classical skeleton
baseline); the layer follows the paper's eq. for the partitioned graph conv
``f_out = sum_k Lambda_k^{-1/2} (A_k + I) Lambda_k^{-1/2} f_in W_k`` as implemented in the authors'
code (column-normalised adjacency ``A D^-1``, split into K subsets) with the learnable edge
importance mask ``M`` (elementwise, per block).

Partition strategies (``partition=``):
- ``"spatial"`` (default, the paper's "spatial configuration"): K = 3 subsets: the root / same
  distance (self loop and neighbours as far from the body centre as the root), the centripetal
  neighbours (closer to the centre) and the centrifugal ones (farther). The body centre is the
  torso: hop distances are measured to the nearest of the shoulders/hips (the gravity centre of a
  2D skeleton lies in the torso); a layout without them uses its graph centre (the joint of least
  eccentricity).
- ``"uniform"``: K = 1, the normalised adjacency (incl. self loops) as one subset.

Default widths ``(32, 64, 64, 128, 128, 256)`` (6 blocks, 1.2 M parameters; temporal stride 2 where the
width grows, so T=32 -> 4): the paper's 10 blocks of (64 x4, 128 x3, 256 x3) cost ~4x more on CPU; the
measured train step (batch 64, T=32, penn13) is ~0.77 s of single-core CPU time (vs ~1.6 s for
(64, 64, 128, 128, 256)). The first block has no residual, as in the paper.

Data flow::

    x (B,T,V,C) -> (B, V*C, T) data BN -> (B, C, T, V)
      -> [block: GCN  (1x1 conv to K*C' channels, sum_k (A_k * M_k) over joints)
                 TCN  (BN -> ReLU -> Conv (9x1, stride s) -> BN -> Dropout)
                 + residual (identity or 1x1 conv, stride s) -> ReLU] x len(channels)
      -> (B, C_last, T', V) -> global average over T', V -> Dropout -> Linear -> (B, num_classes)
"""
from __future__ import annotations

from collections import deque

import numpy as np
import torch
import torch.nn as nn

from sportlens.skeletons import Skeleton

from ._common import SkeletonModel
from .registry import register_model

_TORSO = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")


def _hop_distances(adj: np.ndarray, sources: list[int]) -> np.ndarray:
    """Multi-source BFS hop distance on a 0/1 adjacency (inf where unreachable)."""
    v = adj.shape[0]
    dist = np.full(v, np.inf)
    queue: deque[int] = deque()
    for s in sources:
        dist[s] = 0
        queue.append(s)
    while queue:
        i = queue.popleft()
        for j in np.flatnonzero(adj[i]):
            if dist[j] == np.inf:
                dist[j] = dist[i] + 1
                queue.append(j)
    return dist


def _centre(layout: Skeleton, adj: np.ndarray) -> list[int]:
    if all(layout.has(j) for j in _TORSO):
        return [layout.index(j) for j in _TORSO]
    ecc = [_hop_distances(adj, [i]).max() for i in range(layout.num_joints)]
    return [int(np.argmin(ecc))]


def graph_partitions(layout: Skeleton, partition: str = "spatial") -> np.ndarray:
    """(K, V, V) float32 partitioned, normalised adjacency: ``A[k, j, i]`` weighs the message from
    neighbour ``j`` to root ``i`` (= 1/deg(i) for an edge, so each root averages its neighbours);
    ``GraphConv`` applies it as ``y[..., i] = sum_k sum_j x_k[..., j] * A[k, j, i]``."""
    adj = layout.adjacency(self_loops=True)  # (V, V) 0/1 with self loops
    deg = adj.sum(axis=0)  # (V,)
    norm = adj / deg[None, :]  # (V, V): A D^-1, column-normalised
    if partition == "uniform":
        return norm[None].astype(np.float32)  # (1, V, V)
    if partition != "spatial":
        raise ValueError(f"unknown partition {partition!r}; use 'spatial' or 'uniform'")
    hop = _hop_distances(layout.adjacency(self_loops=False), _centre(layout, adj))
    hop[np.isinf(hop)] = hop[np.isfinite(hop)].max() + 1  # disconnected joints: farthest
    v = layout.num_joints
    a = np.zeros((3, v, v), dtype=np.float32)
    for i in range(v):
        for j in range(v):
            if adj[i, j] == 0:
                continue
            if hop[j] == hop[i]:
                a[0, j, i] = norm[j, i]  # root / same distance
            elif hop[j] < hop[i]:
                a[1, j, i] = norm[j, i]  # centripetal
            else:
                a[2, j, i] = norm[j, i]  # centrifugal
    return a


class GraphConv(nn.Module):
    """Partitioned spatial graph conv with a learnable edge importance mask."""

    def __init__(self, c_in: int, c_out: int, a: torch.Tensor, edge_importance: bool = True) -> None:
        super().__init__()
        self.k = a.shape[0]
        self.register_buffer("A", a)  # (K, V, V)
        self.importance = nn.Parameter(torch.ones_like(a)) if edge_importance else None
        self.conv = nn.Conv2d(c_in, c_out * self.k, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.A * self.importance if self.importance is not None else self.A  # (K, V, V)
        n, _, t, v = x.shape
        x = self.conv(x)  # (N, K*C', T, V)
        x = x.view(n, self.k, -1, t, v)  # (N, K, C', T, V)
        return torch.einsum("nkctv,kvw->nctw", x, a).contiguous()  # (N, C', T, V)


class STGCNBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, a: torch.Tensor, stride: int = 1, kernel_t: int = 9,
                 dropout: float = 0.0, residual: bool = True, edge_importance: bool = True) -> None:
        super().__init__()
        self.gcn = GraphConv(c_in, c_out, a, edge_importance)
        pad = (kernel_t - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, (kernel_t, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(c_out), nn.Dropout(dropout, inplace=True),
        )
        if not residual:
            self.residual = None
        elif c_in == c_out and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1)), nn.BatchNorm2d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn(self.gcn(x))  # (N, C_out, T/stride, V)
        if self.residual is not None:
            y = y + self.residual(x)
        return self.relu(y)


class STGCN(SkeletonModel):
    def __init__(self, num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5,
                 num_frames: int = 32, channels: tuple[int, ...] = (32, 64, 64, 128, 128, 256),
                 partition: str = "spatial", kernel_t: int = 9, dropout: float = 0.5,
                 block_dropout: float = 0.0, edge_importance: bool = True) -> None:
        super().__init__(num_classes, skeleton, in_channels, num_frames)
        if not channels:
            raise ValueError("channels must name at least one block width")
        self.partition = partition
        a = torch.from_numpy(graph_partitions(self.layout, partition))  # (K, V, V)
        self.data_bn = nn.BatchNorm1d(self.num_joints * in_channels)
        blocks = []
        c_prev = in_channels
        for i, c in enumerate(channels):
            # temporal stride 2 where the width grows (as in ST-GCN: 64->128, 128->256)
            stride = 2 if i > 0 and c > channels[i - 1] else 1
            blocks.append(STGCNBlock(c_prev, c, a, stride, kernel_t, block_dropout,
                                     residual=i > 0, edge_importance=edge_importance))
            c_prev = c
        self.blocks = nn.ModuleList(blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_input(x)
        b, t, v, c = x.shape
        h = x.permute(0, 2, 3, 1).reshape(b, v * c, t)  # (B, V*C, T)
        h = self.data_bn(h)
        h = h.view(b, v, c, t).permute(0, 2, 3, 1).contiguous()  # (B, C, T, V)
        for blk in self.blocks:
            h = blk(h)  # (B, C_i, T_i, V)
        h = h.mean(dim=(2, 3))  # (B, C_last)
        return self.fc(self.dropout(h))  # (B, num_classes)


@register_model
def stgcn(num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5, num_frames: int = 32,
          channels: tuple[int, ...] = (32, 64, 64, 128, 128, 256), partition: str = "spatial",
          kernel_t: int = 9, dropout: float = 0.5, block_dropout: float = 0.0,
          edge_importance: bool = True) -> STGCN:
    """ST-GCN with the layout's partitioned adjacency, learnable edge importance, GAP and FC."""
    return STGCN(num_classes, skeleton, in_channels, num_frames, channels=tuple(channels),
                 partition=partition, kernel_t=kernel_t, dropout=dropout, block_dropout=block_dropout,
                 edge_importance=edge_importance)
