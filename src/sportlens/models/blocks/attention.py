"""CBAM attention (Woo et al. 2018) and its 3D extension with temporal attention (seed 002).

Source: seed ``002_yolov5s_cbam_c3d_attention.txt``:
- sec 2.1, eq. 1: channel attention M_c(F) = sigma(MLP_c(AvgPool_{H,W}(F))), sigma = sigmoid, MLP_c a
  two-layer FC network. As in the original CBAM we feed the MLP both the average- and the max-pooled
  descriptor and add the two outputs (the seed cites CBAM [14] but writes only the average term);
  the MLP's hidden width is C/r, at least min(4, C) so that narrow layers keep a working bottleneck;
- sec 2.1, eq. 2: spatial attention. The seed writes M_s(F) = sigma(MLP_s(AvgPool(F))); we follow
  the original CBAM, which the seed cites: average and max over channels -> 2 maps -> k x k conv ->
  sigmoid. An MLP over H*W positions would tie the module to one input size;
- sec 2.2, eq. 14-16 ("improved CBAM", Figure 6): on (N, C, T, H, W) features of the C3D network,
      F'   = T_C(F)    * F      (eq. 14, channel attention, map (N, C, 1, 1, 1))
      F''  = T_S(F')   * F'     (eq. 15, "two-dimensional" spatial attention per frame, (N, 1, T, H, W))
      F''' = T_M(F'')  * F''    (eq. 16, temporal attention, one weight per frame, (N, 1, T, 1, 1))
  where * is the broadcast element-wise product. The seed does not define T_M; ours mirrors the
  channel branch along time: per-frame average- and max-pooled channel descriptors (N, C, T), a
  shared two-layer temporal-conv MLP (C -> C/r -> 1, kernel ``temporal_kernel`` so a frame is
  weighed against its neighbours), summed, sigmoid. Every attention map is in (0, 1).

Each attention module has ``weights(x)`` (the map) and ``forward(x) = weights(x) * x``.

Data flow of :class:`CBAM3d`::

    F (N,C,T,H,W)
      -> avg/max over (T,H,W) (N,C,1,1,1) x2 -> shared MLP -> sum -> sigmoid = T_C   -> F'   (eq. 14)
      -> avg/max over C (N,2,T,H,W) -> conv (1,k,k) -> sigmoid = T_S (N,1,T,H,W)     -> F''  (eq. 15)
      -> avg/max over (H,W) (N,C,T) x2 -> shared conv1d MLP -> sum -> sigmoid
         = T_M (N,1,T,1,1)                                                         -> F''' (eq. 16)
"""
from __future__ import annotations

import torch
import torch.nn as nn


def _hidden(channels: int, reduction: int, min_hidden: int = 4) -> int:
    """Width of the bottleneck MLP: C / r, but at least ``min_hidden`` (capped at C). With one or two
    hidden ReLU units (small widths: C = 16, r = 16) a unit that dies switches the attention off."""
    if channels < 1 or reduction < 1:
        raise ValueError(f"need channels >= 1 and reduction >= 1, got {channels}, {reduction}")
    return max(channels // reduction, min(min_hidden, channels))


class ChannelAttention(nn.Module):
    """Eq. 1 (and eq. 14's T_C): a (N, C, 1, ..., 1) sigmoid map from the average- and max-pooled
    channel descriptors through a shared two-layer MLP. Works on (N, C, *) of any rank."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hid = _hidden(channels, reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hid), nn.ReLU(inplace=True), nn.Linear(hid, channels))

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(2, x.dim()))
        avg, mx = x.mean(dim=dims), x.amax(dim=dims)  # (N, C) each
        w = torch.sigmoid(self.mlp(avg) + self.mlp(mx))  # (N, C)
        return w.reshape(*w.shape, *([1] * len(dims)))  # (N, C) -> (N, C, 1, ..., 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weights(x) * x


def _channel_pool(x: torch.Tensor) -> torch.Tensor:
    """(N, C, ...) -> (N, 2, ...): average and max over channels, CBAM's spatial descriptor."""
    return torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)


class SpatialAttention(nn.Module):
    """Eq. 2 as in CBAM: a (N, 1, H, W) sigmoid map from a k x k conv over [avg_C; max_C]."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (same-size output), got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(_channel_pool(x)))  # (N, 2, H, W) -> (N, 1, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weights(x) * x


class SpatialAttention3d(nn.Module):
    """Eq. 15's T_S: the seed's "two-dimensional spatial attention" computed frame by frame, i.e. a
    (1, k, k) conv over [avg_C; max_C] of each frame, giving a (N, 1, T, H, W) map."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (same-size output), got {kernel_size}")
        p = kernel_size // 2
        self.conv = nn.Conv3d(2, 1, (1, kernel_size, kernel_size), padding=(0, p, p), bias=False)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(_channel_pool(x)))  # (N, 2, T, H, W) -> (N, 1, T, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weights(x) * x


class TemporalAttention(nn.Module):
    """Eq. 16's T_M: one sigmoid weight per frame, map (N, 1, T, 1, 1), so redundant frames of a
    clip can be damped (the seed's motivation: "keyframes contain many redundant frames").

    Per-frame average and max over (H, W) give two (N, C, T) descriptors; a shared two-layer MLP
    made of temporal convolutions (C -> C/r with kernel ``kernel_size``, ReLU, C/r -> 1 with kernel
    1) scores each frame against its neighbours; the two scores are added and squashed by sigmoid.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (same-length output), got {kernel_size}")
        hid = _hidden(channels, reduction)
        self.mlp = nn.Sequential(nn.Conv1d(channels, hid, kernel_size, padding=kernel_size // 2),
                                 nn.ReLU(inplace=True), nn.Conv1d(hid, 1, 1))

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"temporal attention expects (N, C, T, H, W), got {tuple(x.shape)}")
        avg, mx = x.mean(dim=(3, 4)), x.amax(dim=(3, 4))  # (N, C, T) each
        w = torch.sigmoid(self.mlp(avg) + self.mlp(mx))  # (N, 1, T)
        return w[..., None, None]  # (N, 1, T) -> (N, 1, T, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weights(x) * x


class CBAM(nn.Module):
    """2D CBAM on (N, C, H, W): channel (eq. 1) then spatial (eq. 2) attention, sequentially."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention(spatial_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"CBAM expects (N, C, H, W), got {tuple(x.shape)}")
        return self.spatial(self.channel(x))


class CBAM3d(nn.Module):
    """Seed 002's improved CBAM on (N, C, T, H, W): channel (eq. 14), spatial (eq. 15), then temporal
    (eq. 16) attention. ``temporal=False`` gives plain CBAM applied to 3D features (eq. 14-15 only).
    ``last_temporal`` keeps the (N, 1, T, 1, 1) temporal weights of the last forward (detached)."""

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7,
                 temporal_kernel: int = 3, temporal: bool = True) -> None:
        super().__init__()
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention3d(spatial_kernel)
        self.temporal = TemporalAttention(channels, reduction, temporal_kernel) if temporal else None
        self.last_temporal: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"CBAM3d expects (N, C, T, H, W), got {tuple(x.shape)}")
        x = self.spatial(self.channel(x))  # F'' (eq. 14-15)
        if self.temporal is None:
            return x
        w = self.temporal.weights(x)  # (N, 1, T, 1, 1)
        self.last_temporal = w.detach()
        return w * x  # F''' (eq. 16)
