"""SportNet (seed 000, "SportNet", sec 2.2-2.6): the RGB + pose model and its pose branch alone.

Source: seed ``000_sportnet_rgb_pose_penn_action.txt``.
- sec 2.2: T segments, one frame each (random in training, the centre at inference): the data side;
- sec 2.3: person-centred crops resized to 224 x 224, ImageNet mean/std normalisation: the data side;
- sec 2.4: the per-frame pose code p_t = [x~, y~, dx~, dy~, m] per joint (C = 5), flattened to V*C;
- sec 2.5: Visual Encoder v_t = f_rgb(I^_t) in R^512 (ResNet-18 after global average pooling); Pose
  Encoder, "a perceptron-based lightweight mapping" p_t -> u_t in R^{d_u}; frame-level fusion
  f_t = sigma(W_f [v_t; u_t] + b_f), where the seed only says "sigma denotes a nonlinear activation
  layer": we use ReLU (sigmoid would squash every feature into (0, 1) before the mean);
  Global Temporal Aggregation by temporal MEAN pooling g = 1/T sum_t f_t; then the classifier;
- sec 2.6: at inference SportNet takes the arg max of "the averaged probability distribution
  generated from the T segments". ``forward`` returns the logits of g. The classifier is affine, so
  these equal the MEAN of the T per-segment logits W_c f_t + b_c (one forward pass); the arg max of
  mean logits can differ from the arg max of mean probabilities, so :meth:`SportNet.forward_segments`
  returns the (B, T, K) per-segment logits for callers that want the sec 2.6 average of softmaxes.
- sec 3.3.2: the "Larger Model" (hidden = 512) is the ``sportnet`` default here.

``sportnet_pose`` is the pose branch alone: without the RGB branch the fusion reduces to the pose
encoder's last Linear-BN-ReLU layer, so f_t = u_t there.

Data flow, ``sportnet`` (RGB + pose)::

    rgb (B,T,3,H,W) -> (B*T, 3, H, W) -> ResNet-18 features (B*T, 512, H/32, W/32)
        -> mean over h, w: v_t (B*T, 512)                                      (sec 2.5, Visual Encoder)
    pose (B,T,V,C) -> (B*T, V*C) -> [Linear -> BN -> ReLU -> Dropout] x pose_layers
        -> u_t (B*T, hidden)                                                   (sec 2.5, Pose Encoder)
    [v_t; u_t] (B*T, 512 + hidden) -> Linear -> ReLU: f_t (B*T, hidden)        (fusion, sigma = ReLU)
        -> (B, T, hidden) -> mean over T: g (B, hidden)                        (Global Temporal Aggregation)
        -> Dropout -> Linear -> logits (B, num_classes)

Data flow, ``sportnet_pose``::

    x (B,T,V,C) -> flatten joints (B*T, V*C)
        -> [Linear -> BN -> ReLU -> Dropout] x num_layers     (per-frame encoder, u_t = f_t)
        -> (B, T, hidden) -> mean over T: g (B, hidden)       (sec 2.5, eq for g)
        -> Dropout -> Linear -> logits (B, num_classes)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._common import SkeletonModel, VideoModel
from .backbones.resnet import BACKBONES, load_torchvision_weights
from .registry import register_model


def pose_encoder(d_in: int, hidden: int = 256, num_layers: int = 2, dropout: float = 0.5) -> nn.Sequential:
    """Sec 2.5 Pose Encoder, p_t (V*C) -> u_t (hidden): [Linear -> BN -> ReLU -> Dropout] x num_layers."""
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                   nn.Dropout(dropout)]
        d_in = hidden
    return nn.Sequential(*layers)


class SportNetPose(SkeletonModel):
    def __init__(self, num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5,
                 num_frames: int = 32, hidden: int = 256, num_layers: int = 2,
                 dropout: float = 0.5) -> None:
        super().__init__(num_classes, skeleton, in_channels, num_frames)
        self.encoder = pose_encoder(self.num_joints * in_channels, hidden, num_layers, dropout)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_input(x)
        b, t, v, c = x.shape
        u = self.encoder(x.reshape(b * t, v * c))  # (B*T, V*C) -> (B*T, hidden)
        u = u.reshape(b, t, -1)  # (B, T, hidden): frame features f_t
        g = u.mean(dim=1)  # (B, hidden): g = 1/T sum_t f_t
        return self.classifier(g)  # (B, num_classes)


@register_model
def sportnet_pose(num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5,
                  num_frames: int = 32, hidden: int = 256, num_layers: int = 2,
                  dropout: float = 0.5) -> SportNetPose:
    """SportNet's pose branch: per-frame MLP on the V*C pose code, temporal mean pooling, classifier."""
    return SportNetPose(num_classes, skeleton, in_channels, num_frames, hidden=hidden,
                        num_layers=num_layers, dropout=dropout)


class SportNet(VideoModel):
    inputs = ("rgb", "pose")

    def __init__(self, num_classes: int = 15, num_frames: int = 16, image_size: int = 224,
                 skeleton: str = "penn13", in_channels: int = 5, backbone: str = "resnet18",
                 hidden: int = 512, dropout: float = 0.5, pretrained: str = "", width: int = 64,
                 pose_layers: int = 2) -> None:
        super().__init__(num_classes, num_frames, image_size, skeleton, in_channels)
        if pose_layers < 1:
            raise ValueError(f"pose_layers must be >= 1 (u_t must be hidden-dimensional), got {pose_layers}")
        if backbone not in BACKBONES:
            raise KeyError(f"unknown backbone {backbone!r}; available: {', '.join(sorted(BACKBONES))}")
        self.backbone = BACKBONES[backbone](in_channels=3, width=width)
        self.backbone.fc = nn.Identity()  # ImageNet head unused: v_t is the pooled feature
        if pretrained:
            load_torchvision_weights(self.backbone, pretrained)
        self.pose_encoder = pose_encoder(self.num_joints * in_channels, hidden, pose_layers, dropout)
        self.fusion = nn.Sequential(nn.Linear(self.backbone.feature_dim + hidden, hidden),
                                    nn.ReLU(inplace=True))  # W_f, b_f; sigma = ReLU
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)

    def frame_features(self, rgb: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """The fused per-frame features f_t, (B, T, hidden)."""
        rgb, pose = self.check_video(rgb), self.check_pose(pose)
        b, t = rgb.shape[:2]
        if pose.shape[:2] != (b, t):
            raise ValueError(f"rgb and pose disagree on (B, T): {tuple(rgb.shape[:2])} vs {tuple(pose.shape[:2])}")
        x = rgb.flatten(0, 1)  # (B, T, 3, H, W) -> (B*T, 3, H, W)
        v = self.backbone.forward_features(x).mean(dim=(2, 3))  # (B*T, feature_dim): v_t
        u = self.pose_encoder(pose.flatten(0, 1).flatten(1))  # (B, T, V, C) -> (B*T, V*C) -> (B*T, hidden)
        f = self.fusion(torch.cat([v, u], dim=1))  # (B*T, feature_dim + hidden) -> (B*T, hidden): f_t
        return f.reshape(b, t, -1)  # (B*T, hidden) -> (B, T, hidden)

    def forward(self, rgb: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        g = self.frame_features(rgb, pose).mean(dim=1)  # (B, hidden): g = 1/T sum_t f_t
        return self.classifier(self.drop(g))  # (B, num_classes)

    def forward_segments(self, rgb: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """Per-segment logits (B, T, num_classes); their softmax averaged over T is sec 2.6's video score.
        Their mean over T equals ``forward`` in eval mode (the classifier is affine)."""
        return self.classifier(self.drop(self.frame_features(rgb, pose)))  # (B, T, num_classes)


@register_model
def sportnet(num_classes: int = 15, num_frames: int = 16, image_size: int = 224, skeleton: str = "penn13",
             in_channels: int = 5, backbone: str = "resnet18", hidden: int = 512, dropout: float = 0.5,
             pretrained: str = "", width: int = 64, pose_layers: int = 2) -> SportNet:
    """SportNet RGB + pose (seed 000 sec 2.5): ResNet per frame + pose MLP, fusion
    f_t = ReLU(W_f [v_t; u_t] + b_f), temporal mean pooling, classifier. ``pretrained``: path to a
    torchvision ResNet state dict (nothing is downloaded); ``width`` scales the ResNet (64 = standard)."""
    return SportNet(num_classes, num_frames, image_size, skeleton, in_channels, backbone=backbone,
                    hidden=hidden, dropout=dropout, pretrained=pretrained, width=width,
                    pose_layers=pose_layers)
