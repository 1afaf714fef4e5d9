"""Improved C3D: asymmetric 3D convolutions, GroupNorm residual blocks, CBAM with temporal attention
(seed 002, sec 2.2, eq. 9-16).

Source: seed ``002_yolov5s_cbam_c3d_attention.txt`` sec 2.2 (the YOLOv5s detector of sec 2.1 is not
part of this model; it would only supply the person crops):
- eq. 9: 3D convolution over (T, H, W); the C3D layout (Tran et al. 2015, Figure 4): conv1 + pool
  (1,2,2), then conv stages with (2,2,2) pooling, channels w, 2w, 4w, 8w, 8w (C3D: w = 64);
- "global average pooling replaces the original connection layer": no fc6/fc7 (4096-d) stack,
  GAP -> Dropout -> one Linear;
- Figure 5, asymmetric convolution: a k x k kernel is split into k x 1 and 1 x k; in 3D we split the
  k x k x k kernel into three 1-D convolutions applied in turn, (1,k,1) then (1,1,k) (spatial) then
  (k,1,1) (temporal). Same receptive field, 3k instead of k^3 weights per channel pair. No
  nonlinearity between the three: together they are one (rank-constrained) k x k x k kernel;
- eq. 10-13: residual blocks normalised with GroupNorm (batch-size independent);
- eq. 14-16: the improved CBAM (channel -> spatial -> temporal attention) of
  :mod:`sportlens.models.blocks.attention`, placed as in CBAM (Woo et al. 2018) on each block's
  residual branch, before the skip addition.

Every conv stage after the stem is one block of two 3x3x3 convs (C3D has one conv in stage 2; we use
two so that every stage is a residual block and the ablations differ only in their switch).

Ablation switches (sec 3.2, Figure 11) -> keyword arguments:

    full model    residual=True,  asymmetric=True,  attention=True
    A1            residual=False                                     (no skip connections)
    A2                            asymmetric=False                   (full 3x3x3 kernels)
    A3                                              attention=False  (no CBAM3d modules)
    B1            residual=False, asymmetric=False
    B2            residual=False,                   attention=False
    B3                            asymmetric=False, attention=False
    (all False: plain C3D with GroupNorm and GAP; not in the seed)

``residual=False`` removes only the shortcut (the GroupNorm layers stay); ``attention=False`` removes
the CBAM3d modules (``block.attn is None``); ``asymmetric=False`` uses ``nn.Conv3d`` 3x3x3 kernels
instead of :class:`AsymConv3d`.

Data flow (defaults: T = 16, 112 x 112, w = 32)::

    rgb (B,T,3,H,W) -> (B, 3, T, H, W)
      -> conv1 (3 -> w) -> GN -> ReLU -> pool (1,2,2)                (B, w,  16, 56, 56)
      -> block2 (w -> 2w)   -> pool (2,2,2)                          (B, 2w,  8, 28, 28)
      -> block3 (2w -> 4w)  -> pool (2,2,2)                          (B, 4w,  4, 14, 14)
      -> block4 (4w -> 8w)  -> pool (2,2,2)                          (B, 8w,  2,  7,  7)
      -> block5 (8w -> 8w)                                           (B, 8w,  2,  7,  7)
      -> global average pool (B, 8w) -> Dropout -> Linear -> (B, num_classes)

    block(x) = ReLU( CBAM3d( GN(conv(ReLU(GN(conv(x))))) ) + shortcut(x) )
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ._common import VideoModel
from .blocks.attention import CBAM3d
from .registry import register_model


class AsymConv3d(nn.Sequential):
    """A k x k x k convolution split into (1,k,1) -> (1,1,k) -> (k,1,1) (seed 002 Figure 5)."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3) -> None:
        p = kernel_size // 2
        super().__init__(
            nn.Conv3d(cin, cout, (1, kernel_size, 1), padding=(0, p, 0), bias=False),
            nn.Conv3d(cout, cout, (1, 1, kernel_size), padding=(0, 0, p), bias=False),
            nn.Conv3d(cout, cout, (kernel_size, 1, 1), padding=(p, 0, 0), bias=False),
        )


def conv3d(cin: int, cout: int, asymmetric: bool, kernel_size: int = 3) -> nn.Module:
    """The model's k x k x k convolution: split (Figure 5) or full (eq. 9)."""
    if asymmetric:
        return AsymConv3d(cin, cout, kernel_size)
    return nn.Conv3d(cin, cout, kernel_size, padding=kernel_size // 2, bias=False)


def group_norm(channels: int, groups: int = 8) -> nn.GroupNorm:
    """GroupNorm (eq. 10-13) with the largest group count <= ``groups`` that divides ``channels``."""
    return nn.GroupNorm(math.gcd(groups, channels), channels)


def pool3d(temporal: bool = True) -> nn.MaxPool3d:
    """C3D max pooling, (1,2,2) or (2,2,2). ceil_mode: an odd axis keeps its last row, and an axis of
    size 1 (one frame, a 1-pixel map) stays 1 instead of failing, with a fixed kernel (ONNX-friendly)."""
    k = (2 if temporal else 1, 2, 2)
    return nn.MaxPool3d(k, k, ceil_mode=True)  # (N, C, T, H, W) -> (N, C, ceil(T/kt), ceil(H/2), ceil(W/2))


class Block3d(nn.Module):
    """Two convs with GroupNorm; optional CBAM3d on the branch (eq. 14-16) and optional shortcut."""

    def __init__(self, cin: int, cout: int, residual: bool = True, asymmetric: bool = True,
                 attention: bool = True, groups: int = 8, reduction: int = 16, spatial_kernel: int = 7,
                 temporal_kernel: int = 3) -> None:
        super().__init__()
        self.conv1, self.gn1 = conv3d(cin, cout, asymmetric), group_norm(cout, groups)
        self.conv2, self.gn2 = conv3d(cout, cout, asymmetric), group_norm(cout, groups)
        self.relu = nn.ReLU(inplace=True)
        self.attn = CBAM3d(cout, reduction, spatial_kernel, temporal_kernel) if attention else None
        self.shortcut: nn.Module | None = None
        if residual:  # a 1x1x1 projection where the channel count changes, as in ResNet
            self.shortcut = (nn.Identity() if cin == cout else
                             nn.Sequential(nn.Conv3d(cin, cout, 1, bias=False), group_norm(cout, groups)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.gn1(self.conv1(x)))
        out = self.gn2(self.conv2(out))
        if self.attn is not None:
            out = self.attn(out)
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return self.relu(out)


class C3DAttention(VideoModel):
    inputs = ("rgb",)

    def __init__(self, num_classes: int = 15, num_frames: int = 16, image_size: int = 112, width: int = 32,
                 residual: bool = True, asymmetric: bool = True, attention: bool = True,
                 dropout: float = 0.5, groups: int = 8, reduction: int = 16, spatial_kernel: int = 7,
                 temporal_kernel: int = 3) -> None:
        super().__init__(num_classes, num_frames, image_size)
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.residual, self.asymmetric, self.attention = residual, asymmetric, attention
        kw = dict(residual=residual, asymmetric=asymmetric, attention=attention, groups=groups,
                  reduction=reduction, spatial_kernel=spatial_kernel, temporal_kernel=temporal_kernel)
        chans = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        self.stem = nn.Sequential(conv3d(3, chans[0], asymmetric), group_norm(chans[0], groups),
                                  nn.ReLU(inplace=True), pool3d(temporal=False))  # C3D pool1 keeps T
        stages: list[nn.Module] = []
        for i in range(1, 5):
            stages.append(Block3d(chans[i - 1], chans[i], **kw))
            if i < 4:  # C3D pool2-pool4; pool5 + fc6/fc7 are replaced by global average pooling
                stages.append(pool3d(temporal=True))
        self.features = nn.Sequential(*stages)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(chans[-1], num_classes)
        self.feature_dim = chans[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv3d) and m.in_channels > 2:  # not the attention convs (2 -> 1)
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, 8w) clip feature after global average pooling."""
        x = self.check_video(rgb).transpose(1, 2)  # (B, T, 3, H, W) -> (B, 3, T, H, W)
        x = self.features(self.stem(x))  # (B, 8w, T', H', W')
        return x.mean(dim=(2, 3, 4))  # (B, 8w): GAP instead of fc6/fc7

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.forward_features(rgb)))  # (B, num_classes)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", residual={self.residual}, asymmetric={self.asymmetric}, "
                f"attention={self.attention}")


@register_model
def c3d_attn(num_classes: int = 15, num_frames: int = 16, image_size: int = 112, width: int = 32,
             residual: bool = True, asymmetric: bool = True, attention: bool = True, dropout: float = 0.5,
             groups: int = 8, reduction: int = 16, spatial_kernel: int = 7,
             temporal_kernel: int = 3) -> C3DAttention:
    """Improved C3D of seed 002 sec 2.2: asymmetric convs, GN residual blocks, CBAM + temporal
    attention (eq. 14-16), GAP head. The three switches give the paper's ablations A1-A3 / B1-B3
    (see the module docstring)."""
    return C3DAttention(num_classes, num_frames, image_size, width=width, residual=residual,
                        asymmetric=asymmetric, attention=attention, dropout=dropout, groups=groups,
                        reduction=reduction, spatial_kernel=spatial_kernel, temporal_kernel=temporal_kernel)
