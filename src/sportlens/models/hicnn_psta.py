"""HICNN-PSTA: joint action recognition and 2D pose estimation from RGB clips (seed 001, sec III.A-B).

Source: seed ``001_hicnn_psta_msgcn_pose_forecasting.txt`` (Liu), Fig. 1-2:
- sec III.A, eq. 1-3: the backbone (HICNN) stacks convolutions (eq. 1, channel-specific, spatially
  shared) and involutions (eq. 3, spatially specific, channel-shared; ``backbones/involution.py``)
  alternately: here a strided 3x3 conv (downsampling, channel mixing) then a residual involution
  block, twice, after a conv stem; output stride 8;
- eq. 4-5 PSTA: the feature map of every frame is a set of N = h*w spatial tokens; the clip's
  (T, N, C) embedding goes through PSTA blocks (``psta.PSTABlock``/``PSTAttention``, reused): half
  of the channels attend over time (per position), half over space (per frame), H = cat(H_T, H_S).
  The seed applies PSTA to joint tokens of a pose sequence in its figure; for RGB input the tokens
  are the backbone's positions (+ learned temporal and spatial position embeddings);
- eq. 6: the multi-task features delta_t (here: PSTA output, upsampled to ``heatmap_size`` and
  refined by a 3x3 conv) give the joint probability maps ``h_t = Phi(W_h * delta_t)``: W_h a 1x1
  conv to V = ``num_joints`` maps, Phi = sigmoid (maps in (0, 1), comparable with the peak-1
  Gaussian targets of ``data/heatmaps.py``). The bias of W_h starts at -4 (sigmoid ~ 0.02): a
  joint covers a few pixels of a map, so starting near "background" keeps eq. 7's initial loss small;
- eq. 7: elastic-net loss between predicted and target maps (``engine/tasks.ActionPoseTask``);
- action: "the multi-task features are multiplied by probability maps h_t at channel dimension to
  obtain the appearance features V (T x N_f x N_f)": for every joint, the map-weighted average of
  delta_t over the pixels (maps normalised to sum 1), giving (T, V, D) per clip; these are
  classified by a per-frame MLP over the V*D joint features, mean over time, a linear layer and
  categorical cross-entropy.

Data flow (B clips, T frames, input H x W, width w, D = 4w, s = heatmap_size)::

    rgb (B,T,3,H,W) -> (B*T, 3, H, W)
      -> HICNN: conv3x3/2 (w, H/2) -> conv3x3/2 (2w, H/4) -> involution block (eq. 3)
                -> conv3x3/2 (D, H/8) -> involution block (eq. 3)          (B*T, D, h, w)
      -> tokens (B, T, N=h*w, D) + pos_t + pos_s -> PSTA blocks (eq. 4-5) -> LN (B, T, N, D)
      -> map (B*T, D, h, w) -> upsample to s x s -> conv3x3-BN-ReLU = delta (B*T, D, s, s)
      -> heatmaps = sigmoid(conv1x1(delta)) (B*T, V, s, s)  -> (B, T, V, s, s)        (eq. 6)
      -> appearance = sum_xy (h / sum_xy h) * delta  (B*T, V, D) -> (B, T, V*D)
      -> Linear -> GELU -> mean over T (B, hidden) -> Dropout -> Linear -> logits (B, K)
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import VideoModel, interpolate_time
from .backbones.involution import Involution2d
from .psta import PSTABlock
from .registry import register_model

HEATMAP_PRIOR = 0.02  # initial sigmoid output of the heatmap head (see the module docstring)


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _groups(channels: int, group_channels: int) -> int:
    """The most groups <= channels / group_channels that divide ``channels`` (at least 1)."""
    g = max(1, channels // group_channels)
    while channels % g:
        g -= 1
    return g


class InvolutionBlock(nn.Module):
    """Residual involution: ``ReLU(x + BN(Involution(x)))`` (eq. 3), shape-preserving."""

    def __init__(self, channels: int, kernel_size: int = 7, group_channels: int = 16, reduction: int = 4) -> None:
        super().__init__()
        self.inv = Involution2d(channels, kernel_size, 1, _groups(channels, group_channels), reduction)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.bn(self.inv(x)))  # (N, C, H, W)


class HICNN(nn.Module):
    """Hybrid involution/convolution backbone: (N, 3, H, W) -> (N, 4 width, H/8, W/8)."""

    stride = 8

    def __init__(self, width: int = 32, kernel_size: int = 7, group_channels: int = 16) -> None:
        super().__init__()
        self.feature_dim = 4 * width
        self.layers = nn.Sequential(
            _conv_bn_relu(3, width, 2),  # (N, w, H/2, W/2)
            _conv_bn_relu(width, 2 * width, 2),  # (N, 2w, H/4, W/4): convolution (eq. 1)
            InvolutionBlock(2 * width, kernel_size, group_channels),  # involution (eq. 3)
            _conv_bn_relu(2 * width, 4 * width, 2),  # (N, 4w, H/8, W/8): convolution (eq. 1)
            InvolutionBlock(4 * width, kernel_size, group_channels),  # involution (eq. 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class HICNNPSTA(VideoModel):
    inputs = ("rgb",)

    def __init__(self, num_classes: int = 15, num_frames: int = 8, image_size: int = 128, skeleton: str = "penn13",
                 width: int = 32, heads: int = 2, heatmap_size: int = 32, dropout: float = 0.3, depth: int = 1,
                 involution_kernel: int = 7, mlp_ratio: float = 2.0, hidden: int = 256) -> None:
        super().__init__(num_classes, num_frames, image_size, skeleton)
        if heatmap_size < 4:
            raise ValueError(f"heatmap_size must be >= 4, got {heatmap_size}")
        self.heatmap_size = int(heatmap_size)
        self.backbone = HICNN(width, involution_kernel)
        dim = self.backbone.feature_dim
        self.grid = -(-image_size // HICNN.stride)  # feature map side for image_size (ceil: stride-2 convs, pad 1)
        self.pos_t = nn.Parameter(torch.zeros(num_frames, dim))
        self.pos_s = nn.Parameter(torch.zeros(self.grid * self.grid, dim))
        nn.init.trunc_normal_(self.pos_t, std=0.02)
        nn.init.trunc_normal_(self.pos_s, std=0.02)
        self.blocks = nn.ModuleList(PSTABlock(dim, heads, mlp_ratio, 0.0) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.refine = _conv_bn_relu(dim, dim, 1)  # delta_t, the multi-task features
        self.heatmap = nn.Conv2d(dim, self.num_joints, 1)  # W_h of eq. 6
        nn.init.constant_(self.heatmap.bias, math.log(HEATMAP_PRIOR / (1 - HEATMAP_PRIOR)))
        self.frame_mlp = nn.Sequential(nn.LayerNorm(self.num_joints * dim), nn.Linear(self.num_joints * dim, hidden),
                                       nn.GELU())
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden, num_classes)

    def _pos_s(self, h: int, w: int) -> torch.Tensor:
        """Learned spatial embedding (grid*grid, D), bilinearly resized when the feature map is h x w."""
        if h == w == self.grid:
            return self.pos_s
        grid = self.pos_s.t().reshape(1, -1, self.grid, self.grid)  # (N0, D) -> (1, D, g, g)
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)  # (1, D, h, w)
        return grid.flatten(2)[0].t()  # (1, D, h, w) -> (h*w, D)

    def features(self, rgb: torch.Tensor) -> torch.Tensor:
        """rgb (B, T, 3, H, W) -> multi-task features delta (B*T, D, s, s)."""
        rgb = self.check_video(rgb, "rgb", 3)
        b, t = rgb.shape[:2]
        f = self.backbone(rgb.flatten(0, 1))  # (B, T, 3, H, W) -> (B*T, 3, H, W) -> (B*T, D, h, w)
        _, d, h, w = f.shape
        tok = f.flatten(2).transpose(1, 2).reshape(b, t, h * w, d)  # (B*T, D, h, w) -> (B, T, N, D)
        tok = tok + interpolate_time(self.pos_t, t)[None, :, None] + self._pos_s(h, w)[None, None]  # (B, T, N, D)
        for blk in self.blocks:
            tok = blk(tok)  # (B, T, N, D): eq. 4-5
        tok = self.norm(tok)
        fmap = tok.reshape(b * t, h, w, d).permute(0, 3, 1, 2)  # (B, T, N, D) -> (B*T, D, h, w)
        s = self.heatmap_size
        fmap = F.interpolate(fmap, size=(s, s), mode="bilinear", align_corners=False)  # (B*T, D, s, s)
        return self.refine(fmap)  # (B*T, D, s, s)

    def forward_multitask(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (logits (B, K), heatmaps (B, T, V, s, s) in (0, 1))."""
        b, t = rgb.shape[:2]
        delta = self.features(rgb)  # (B*T, D, s, s)
        maps = torch.sigmoid(self.heatmap(delta))  # (B*T, V, s, s): eq. 6, Phi = sigmoid
        weights = maps / maps.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)  # (B*T, V, s, s), sum 1 per joint
        app = torch.einsum("nvxy,ndxy->nvd", weights, delta)  # (B*T, V, D): heatmap-weighted appearance
        app = app.reshape(b, t, -1)  # (B*T, V, D) -> (B, T, V*D)
        g = self.frame_mlp(app).mean(dim=1)  # (B, T, hidden) -> (B, hidden)
        logits = self.fc(self.drop(g))  # (B, K)
        s = self.heatmap_size
        return logits, maps.reshape(b, t, self.num_joints, s, s)  # (B*T, V, s, s) -> (B, T, V, s, s)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.forward_multitask(rgb)[0]

    def extra_repr(self) -> str:
        return super().extra_repr() + f", skeleton={self.skeleton!r}, heatmap_size={self.heatmap_size}"


@register_model
def hicnn_psta(num_classes: int = 15, num_frames: int = 8, image_size: int = 128, skeleton: str = "penn13",
               width: int = 32, heads: int = 2, heatmap_size: int = 32, dropout: float = 0.3, depth: int = 1,
               involution_kernel: int = 7, mlp_ratio: float = 2.0, hidden: int = 256) -> HICNNPSTA:
    """Seed 001 HICNN-PSTA: hybrid involution/convolution backbone, PSTA over (frames x positions),
    eq. 6 joint heatmaps (V = the skeleton's joints, ``heatmap_size``^2) and action logits from
    heatmap-weighted features; ``forward_multitask`` gives both (for ``ActionPoseTask``)."""
    return HICNNPSTA(num_classes, num_frames, image_size, skeleton, width, heads, heatmap_size, dropout, depth,
                     involution_kernel, mlp_ratio, hidden)
