"""Two-stream network with spatial attention and MHSSA temporal attention (seed 004).

Source: seed ``004_two_stream_mhssa.txt`` (Yan 2024), sec 2.1-2.2:
- two streams: RGB frames for appearance, stacked optical flow for short-range motion (Fig. 1);
- eq. 5 sparse segment sampling: T segments, one RGB frame and one stack of k flow fields (2k
  channels) per segment (the data side: ``sportlens.video.flow.stack_flow``);
- backbone: the seed uses BN-Inception; we use the ResNet of ``backbones/resnet.py`` (the seed's
  spatial branch is "optimized by ResNet" too, and Inception is not available here). The flow
  stream's first convolution takes 2k channels (``2k -> 64``);
- eq. 6 cross-modality initialisation: from an ImageNet RGB checkpoint, the flow conv1 kernel is the
  mean of the RGB kernel over its 3 input channels, replicated 2k times (``load_torchvision_weights``);
- partial BN (TSN): "lock the regularization layers other than the first BN layer", i.e. every BN
  but the first keeps its (pre-trained) running statistics while training. Implemented by
  ``train()`` putting those layers back in eval mode. Their affine weights stay trainable: TSN also
  freezes them through its optimizer groups, but without a pre-trained checkpoint the ResNet's
  zero-initialised block BNs would then stay 0 and switch the residual branches off for good;
- spatial attention (Fig. 7-8, eq. 16): average and max pooling fused; a sigmoid attention map made
  residual, ``h(x) = f(x) + x`` with ``f(x) = sigmoid(a(x)) * x``, so ``y = x * (1 + sigmoid(a(x)))``
  (a weak map can damp a region but never erase the feature, the seed's Sigmoid-ResNet variant).
  The map ``a`` is a small per-position MLP (3x3 conv 2 -> hidden, ReLU, 1x1 conv hidden -> 1)
  over the channel-average and channel-max maps (the seed's "multi-layer perceptron strategy"
  instead of pairwise correlation of the 7x7 positions); the attended map is then compressed by
  the fusion of global average and global max pooling (their sum), not by average pooling alone;
- MHSSA temporal module (eq. 10-14): the per-segment features of a stream attend to each other with
  sigmoid gates instead of softmax (``mhssa.MHSSABlock`` / ``MultiHeadSigmoidAttention``, reused).
  The seed puts MHSSA on the temporal (flow) network and the spatial attention on the spatial
  network; here both streams get both modules (MHSSA replaces TSN's average consensus over
  segments, which the RGB stream needs as well; spatial attention is cheap);
- eq. 7 weighted score fusion ``P = sum_i Weight_i P_i``: the seed gives no weights; its data
  pipeline is TSN's, whose RGB:flow weights are **1 : 1.5** (``fusion_weight`` = flow weight, RGB
  weight 1). We fuse the per-stream logits and divide by the weight sum (same argmax as eq. 7, and
  the fused logits keep one stream's scale, so cross-entropy on them behaves as on a single stream).

Data flow (per stream; x = rgb (B,T,3,H,W) or flow (B,T,2k,H,W))::

    x -> (B*T, C, H, W) -> ResNet.forward_features -> (B*T, F, H/32, W/32)
      -> spatial attention: [mean_C; max_C] (B*T, 2, h, w) -> conv-MLP -> sigmoid = A (B*T, 1, h, w)
         y = x (1 + A)                                                   (eq. 16, residual sigmoid)
      -> mean_hw(y) + max_hw(y) (B*T, F) -> (B, T, F) + pos_t
      -> MHSSABlock: LN -> Sigmoid(QK^T/sqrt(d_k)) V per head -> concat -> W_o (+ res), MLP (+ res)  (eq. 10-14)
      -> LN -> mean over T (B, F) -> Dropout -> Linear -> stream logits (B, K)
    stream_logits = stack(rgb, flow) (B, 2, K);  forward = (1 * rgb + w * flow) / (1 + w)   (eq. 7)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._common import VideoModel, interpolate_time
from .backbones.resnet import BACKBONES, ResNet, load_torchvision_weights
from .mhssa import MHSSABlock
from .registry import register_model


class ResidualSpatialAttention(nn.Module):
    """Fig. 7-8 / eq. 16: ``y = x * (1 + sigmoid(a([mean_C x; max_C x])))`` on (N, C, h, w) maps."""

    def __init__(self, hidden: int = 8, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd (same-size map), got {kernel_size}")
        self.mlp = nn.Sequential(nn.Conv2d(2, hidden, kernel_size, padding=kernel_size // 2), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, 1, 1))
        self.last_map: torch.Tensor | None = None  # (N, 1, h, w), detached, for inspection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)  # (N, 2, h, w)
        a = torch.sigmoid(self.mlp(pooled))  # (N, 1, h, w)
        self.last_map = a.detach()
        return x * (1.0 + a)  # residual: f(x) + x with f(x) = a * x


class Stream(nn.Module):
    """One stream: ResNet -> spatial attention -> avg+max pooling -> MHSSA over segments -> logits."""

    def __init__(self, backbone: ResNet, num_classes: int, num_frames: int, heads: int, attention: str,
                 dropout: float, depth: int = 1, mlp_ratio: float = 2.0, attn_dropout: float = 0.1) -> None:
        super().__init__()
        self.backbone = backbone
        dim = backbone.feature_dim
        self.spatial = ResidualSpatialAttention()
        self.pos_t = nn.Parameter(torch.zeros(num_frames, dim))
        nn.init.trunc_normal_(self.pos_t, std=0.02)
        self.temporal = nn.ModuleList(MHSSABlock(dim, heads, attention, mlp_ratio, attn_dropout)
                                      for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, T, F): attended, avg+max pooled backbone features of every frame."""
        b, t = x.shape[:2]
        f = self.backbone.forward_features(x.flatten(0, 1))  # (B, T, C, H, W) -> (B*T, C, H, W) -> (B*T, F, h, w)
        f = self.spatial(f)  # (B*T, F, h, w)
        g = f.mean(dim=(2, 3)) + f.amax(dim=(2, 3))  # (B*T, F): fusion of average and max pooling
        return g.reshape(b, t, -1)  # (B*T, F) -> (B, T, F)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.frame_features(x)  # (B, T, F)
        h = h + interpolate_time(self.pos_t, h.shape[1])[None]  # (B, T, F)
        for blk in self.temporal:
            h = blk(h)  # (B, T, F): eq. 10-14
        return self.fc(self.drop(self.norm(h).mean(dim=1)))  # (B, T, F) -> (B, F) -> (B, K)


class TwoStreamMHSSA(VideoModel):
    inputs = ("rgb", "flow")

    def __init__(self, num_classes: int = 15, num_frames: int = 8, image_size: int = 224, flow_stack: int = 5,
                 backbone: str = "resnet18", width: int = 64, heads: int = 2, attention: str = "sigmoid",
                 fusion_weight: float = 1.5, partial_bn: bool = True, dropout: float = 0.5,
                 pretrained: str = "", depth: int = 1) -> None:
        super().__init__(num_classes, num_frames, image_size)
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; use one of {sorted(BACKBONES)}")
        if flow_stack < 1 or fusion_weight < 0:
            raise ValueError(f"need flow_stack >= 1 and fusion_weight >= 0, got {flow_stack}, {fusion_weight}")
        self.flow_stack, self.partial_bn = int(flow_stack), bool(partial_bn)
        rgb_net, flow_net = BACKBONES[backbone](3, width), BACKBONES[backbone](2 * flow_stack, width)
        for net in (rgb_net, flow_net):
            net.fc = nn.Identity()  # the ImageNet head is never used (forward_features only); fc.* is skipped on load
        if pretrained:
            load_torchvision_weights(rgb_net, pretrained)
            load_torchvision_weights(flow_net, pretrained)  # conv1 3 -> 2k channels: eq. 6
        self.rgb = Stream(rgb_net, num_classes, num_frames, heads, attention, dropout, depth)
        self.flow = Stream(flow_net, num_classes, num_frames, heads, attention, dropout, depth)
        # eq. 7 weights (RGB, flow); a buffer so it travels with the state dict and the device
        self.register_buffer("fusion_weights", torch.tensor([1.0, float(fusion_weight)]))

    # ------------------------------------------------------------ partial BN
    def frozen_bn(self) -> list[nn.BatchNorm2d]:
        """BN layers partial BN keeps in eval mode: all of both backbones but each one's first (bn1)."""
        return [m for s in (self.rgb, self.flow) for name, m in s.backbone.named_modules()
                if isinstance(m, nn.BatchNorm2d) and name != "bn1"]

    def train(self, mode: bool = True) -> "TwoStreamMHSSA":
        super().train(mode)
        if mode and self.partial_bn:
            for m in self.frozen_bn():
                m.eval()  # running mean/var stay those of the checkpoint (TSN partial BN)
        return self

    # ------------------------------------------------------------ forward
    def stream_logits(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """Per-stream logits (B, 2, K): index 0 RGB, 1 flow."""
        rgb = self.check_video(rgb, "rgb", 3)
        flow = self.check_video(flow, "flow", 2 * self.flow_stack)
        if rgb.shape[0] != flow.shape[0]:
            raise ValueError(f"rgb and flow batch sizes differ: {rgb.shape[0]} vs {flow.shape[0]}")
        return torch.stack([self.rgb(rgb), self.flow(flow)], dim=1)  # 2 x (B, K) -> (B, 2, K)

    def fuse(self, stream_logits: torch.Tensor) -> torch.Tensor:
        """Eq. 7 on (B, 2, K) -> (B, K), weights normalised to sum 1."""
        w = self.fusion_weights / self.fusion_weights.sum()  # (2,)
        return (stream_logits * w[None, :, None]).sum(dim=1)  # (B, 2, K) -> (B, K)

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.stream_logits(rgb, flow))  # (B, K)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", flow_stack={self.flow_stack}, partial_bn={self.partial_bn}, "
                f"fusion_weights={self.fusion_weights.tolist()}")


@register_model
def two_stream(num_classes: int = 15, num_frames: int = 8, image_size: int = 224, flow_stack: int = 5,
               backbone: str = "resnet18", width: int = 64, heads: int = 2, attention: str = "sigmoid",
               fusion_weight: float = 1.5, partial_bn: bool = True, dropout: float = 0.5,
               pretrained: str = "", depth: int = 1) -> TwoStreamMHSSA:
    """Seed 004 two-stream ResNet (RGB + 2k-channel flow) with residual spatial attention and MHSSA
    over the T segments (eq. 10-14), eq. 7 fusion with RGB:flow = 1:``fusion_weight``; ``pretrained``:
    a torchvision ResNet state-dict file (flow conv1 by eq. 6), '' = random init."""
    return TwoStreamMHSSA(num_classes, num_frames, image_size, flow_stack, backbone, width, heads, attention,
                          fusion_weight, partial_bn, dropout, pretrained, depth)
