"""YOLOv5s + CBAM person detector (seed 002 sec 2.1, Figure 1): a pure ``nn.Module``, no I/O.

Data flow (``w`` = width multiple, channels shown for w = 1 as in YOLOv5s; S = ``image_size``)::

    image (B,3,S,S)
      │ Focus: space-to-depth (B,12,S/2,S/2) + Conv 3x3            ── backbone (CSP/C3 + Focus, sec 2.1)
      ├─ Conv s2 ─ C3 x3                       (B,128,S/4)
      ├─ Conv s2 ─ C3 x9 ──────────────── P3   (B,256,S/8)
      ├─ Conv s2 ─ C3 x9 ──────────────── P4   (B,512,S/16)
      └─ Conv s2 ─ C3 x3 | Swin block (opt.) ─ SPPF ── P5 (B,1024,S/32)   (SPPF: local + global features)
                                                                          ── neck: PANet (top-down + bottom-up)
    P5 ─ Conv1x1 ─ h5 ─ up2 ─ cat P4 ─ C3 ─ Conv1x1 ─ h4 ─ up2 ─ cat P3 ─ C3 ─────────────── N3 (S/8)
                                                               N3 ─ Conv s2 ─ cat h4 ─ C3 ─ N4 (S/16)
                                                               N4 ─ Conv s2 ─ cat h5 ─ C3 ─ N5 (S/32)
    N3, N4, N5 ─ CBAM (eq. 1-2, "at the neck's tail") ─ Detect: Conv1x1 -> A*(5+K) per level
      └─ raw (B, N, 5+K), N = A*(S/8)^2 + A*(S/16)^2 + A*(S/32)^2 (level, anchor, row, column order)

The losses (BCE objectness/class eq. 3-4, CIoU eq. 5-7, improved CIoU eq. 8, SIoU), target
assignment, decoding and NMS are in ``sportlens.engine.detection``. Anchors: YOLOv5's COCO anchors
(given for 640 px) scaled by ``image_size / 640`` unless ``anchors`` is passed.

Registered: ``yolov5s_cbam(num_classes=1, image_size=256, width=0.5, depth=0.33, cbam=True,
swin=False, anchors=None)``; width 0.5 / depth 0.33 is YOLOv5s; smaller widths for CPU training.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from sportlens.models._common import DetectorModel
from sportlens.models.blocks.attention import CBAM
from sportlens.models.registry import register_model

# YOLOv5 default anchors (w, h) in pixels at 640 px input, for strides 8, 16, 32.
YOLOV5_ANCHORS = ((10, 13, 16, 30, 33, 23), (30, 61, 62, 45, 59, 119), (116, 90, 156, 198, 373, 326))
STRIDES = (8, 16, 32)


def _ch(c: float, width: float) -> int:
    """Channels scaled by the width multiple, rounded up to a multiple of 8 (YOLOv5's make_divisible)."""
    return max(8, int(math.ceil(c * width / 8) * 8))


def _n(n: int, depth: float) -> int:
    return max(round(n * depth), 1)


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm + SiLU, 'same' padding."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.1)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Focus(nn.Module):
    """Focus stem: every second pixel into channels, then a conv (YOLOv5 v1-v5)."""

    def __init__(self, c1: int, c2: int, k: int = 3) -> None:
        super().__init__()
        self.conv = Conv(c1 * 4, c2, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        x = torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1)  # (B, 4C, H/2, W/2)
        return self.conv(x)


class Bottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c2, 1), Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP bottleneck with 3 convolutions: half the channels go through n bottlenecks, half bypass."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        c_ = c2 // 2
        self.cv1, self.cv2, self.cv3 = Conv(c1, c_, 1), Conv(c1, c_, 1), Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], 1))  # (B, c2, H, W)


class SPPF(nn.Module):
    """Spatial pyramid pooling - fast: three chained 5x5 max-pools (= 5, 9, 13 windows), concatenated."""

    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1, self.cv2 = Conv(c1, c_, 1), Conv(c_ * 4, c2, 1)
        self.pool = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat([x, y1, y2, self.pool(y2)], 1))  # (B, 4c_ -> c2, H, W)


class SwinBlock(nn.Module):
    """Swin-style block (optional, seed 002: Swin Transformer v2 replaces the backbone's last stage):
    window multi-head self-attention with the v2 scaled-cosine attention and post-norm residuals,
    then an MLP. Windows of ``window`` x ``window`` tokens (the whole map when it is smaller or
    does not divide); no shifted windows (one block only)."""

    def __init__(self, c1: int, c2: int, heads: int = 4, window: int = 4, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.proj = Conv(c1, c2, 1) if c1 != c2 else nn.Identity()
        heads = max(1, min(heads, c2 // 8))
        while c2 % heads:
            heads -= 1
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(c2, 3 * c2)
        self.out = nn.Linear(c2, c2)
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        self.norm1, self.norm2 = nn.LayerNorm(c2), nn.LayerNorm(c2)
        hidden = int(c2 * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(c2, hidden), nn.GELU(), nn.Linear(hidden, c2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        b, c, h, w = x.shape
        win = self.window if (h % self.window == 0 and w % self.window == 0) else None
        wh, ww = (win, win) if win else (h, w)
        nh, nw = h // wh, w // ww
        t = x.reshape(b, c, nh, wh, nw, ww).permute(0, 2, 4, 3, 5, 1)  # (B, nh, nw, wh, ww, C)
        t = t.reshape(b * nh * nw, wh * ww, c)  # (B', M, C) tokens per window
        qkv = self.qkv(t).reshape(t.shape[0], wh * ww, 3, self.heads, c // self.heads)  # (B', M, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B', h, M, d)
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)  # (B', h, M, M) cosine
        attn = (attn * torch.clamp(self.logit_scale, max=math.log(100.0)).exp()).softmax(-1)
        y = (attn @ v).transpose(1, 2).reshape(t.shape[0], wh * ww, c)  # (B', M, C)
        t = t + self.norm1(self.out(y))  # v2: post-norm residual
        t = t + self.norm2(self.mlp(t))
        t = t.reshape(b, nh, nw, wh, ww, c).permute(0, 5, 1, 3, 2, 4)  # (B, C, nh, wh, nw, ww)
        return t.reshape(b, c, h, w)


class YoloV5CBAM(DetectorModel):
    """YOLOv5-style detector with CBAM at the neck's end (seed 002, Figure 1). See the module docstring."""

    def __init__(self, num_classes: int = 1, image_size: int = 256, width: float = 0.5, depth: float = 0.33,
                 cbam: bool = True, swin: bool = False, anchors: list | None = None) -> None:
        super().__init__(num_classes, image_size)
        c = [_ch(v, width) for v in (64, 128, 256, 512, 1024)]
        self.width, self.depth, self.use_cbam, self.use_swin = float(width), float(depth), bool(cbam), bool(swin)
        # backbone
        self.stem = Focus(3, c[0], 3)  # /2
        self.stage2 = nn.Sequential(Conv(c[0], c[1], 3, 2), C3(c[1], c[1], _n(3, depth)))  # /4
        self.stage3 = nn.Sequential(Conv(c[1], c[2], 3, 2), C3(c[2], c[2], _n(9, depth)))  # /8  -> P3
        self.stage4 = nn.Sequential(Conv(c[2], c[3], 3, 2), C3(c[3], c[3], _n(9, depth)))  # /16 -> P4
        last = SwinBlock(c[4], c[4]) if swin else C3(c[4], c[4], _n(3, depth))
        self.stage5 = nn.Sequential(Conv(c[3], c[4], 3, 2), last, SPPF(c[4], c[4]))  # /32 -> P5
        # neck: PANet
        self.lat5 = Conv(c[4], c[3], 1)
        self.td4 = C3(2 * c[3], c[3], _n(3, depth), shortcut=False)
        self.lat4 = Conv(c[3], c[2], 1)
        self.td3 = C3(2 * c[2], c[2], _n(3, depth), shortcut=False)  # -> N3
        self.down3 = Conv(c[2], c[2], 3, 2)
        self.bu4 = C3(2 * c[2], c[3], _n(3, depth), shortcut=False)  # -> N4
        self.down4 = Conv(c[3], c[3], 3, 2)
        self.bu5 = C3(2 * c[3], c[4], _n(3, depth), shortcut=False)  # -> N5
        outs = (c[2], c[3], c[4])
        self.cbam = nn.ModuleList(CBAM(ch) if cbam else nn.Identity() for ch in outs)
        # head
        if anchors is None:
            k = image_size / 640.0
            anchors = [[v * k for v in level] for level in YOLOV5_ANCHORS]
        a = torch.tensor(anchors, dtype=torch.float32).reshape(len(STRIDES), -1, 2)  # (L, A, 2) px
        self.register_buffer("anchors", a)
        self.strides, self.num_anchors = STRIDES, a.shape[1]
        self.no = 5 + num_classes
        self.detect = nn.ModuleList(nn.Conv2d(ch, self.num_anchors * self.no, 1) for ch in outs)
        self._init_biases()

    def _init_biases(self) -> None:
        """YOLOv5's prior: objectness ~ 8 objects per 640 px image, class prior 0.6/K."""
        for conv, s in zip(self.detect, self.strides):
            b = conv.bias.detach().view(self.num_anchors, self.no)
            b[:, 4] += math.log(8 / (640 / s) ** 2)
            b[:, 5:] += math.log(0.6 / (self.num_classes - 0.99))
            conv.bias = nn.Parameter(b.view(-1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"expected image of shape (B, 3, S, S), got {tuple(image.shape)}")
        x = self.stage2(self.stem(image))  # (B, c1, S/4, S/4)
        p3 = self.stage3(x)  # (B, c2, S/8, S/8)
        p4 = self.stage4(p3)  # (B, c3, S/16, S/16)
        p5 = self.stage5(p4)  # (B, c4, S/32, S/32)
        h5 = self.lat5(p5)  # (B, c3, S/32)
        t4 = self.td4(torch.cat([F.interpolate(h5, scale_factor=2.0, mode="nearest"), p4], 1))  # (B, c3, S/16)
        h4 = self.lat4(t4)  # (B, c2, S/16)
        n3 = self.td3(torch.cat([F.interpolate(h4, scale_factor=2.0, mode="nearest"), p3], 1))  # (B, c2, S/8)
        n4 = self.bu4(torch.cat([self.down3(n3), h4], 1))  # (B, c3, S/16)
        n5 = self.bu5(torch.cat([self.down4(n4), h5], 1))  # (B, c4, S/32)
        outs = []
        for feat, att, head in zip((n3, n4, n5), self.cbam, self.detect):
            y = head(att(feat))  # (B, A*no, h, w)
            b, _, h, w = y.shape
            y = y.reshape(b, self.num_anchors, self.no, h, w).permute(0, 1, 3, 4, 2)  # (B, A, h, w, no)
            outs.append(y.reshape(b, self.num_anchors * h * w, self.no))  # (B, A*h*w, no)
        return torch.cat(outs, 1)  # (B, N, no)

    def level_shapes(self, height: int, width: int) -> list[tuple[int, int]]:
        """(rows, columns) of each level's grid for an input of ``height`` x ``width``."""
        return [(height // s, width // s) for s in self.strides]

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, image_size={self.image_size}, width={self.width}, "
                f"depth={self.depth}, cbam={self.use_cbam}, swin={self.use_swin}")


@register_model
def yolov5s_cbam(num_classes: int = 1, image_size: int = 256, width: float = 0.5, depth: float = 0.33,
                 cbam: bool = True, swin: bool = False, anchors: list | None = None) -> YoloV5CBAM:
    """YOLOv5s (width 0.5, depth 0.33) + CBAM at the neck's end; seed 002 sec 2.1."""
    return YoloV5CBAM(num_classes=num_classes, image_size=image_size, width=width, depth=depth, cbam=cbam,
                      swin=swin, anchors=anchors)
