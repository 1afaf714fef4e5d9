"""SportNet pose branch (seed 000, "SportNet", sec 2.4-2.6).

Source: seed ``000_sportnet_rgb_pose_penn_action.txt``.
- sec 2.4: the per-frame pose code p_t = [x~, y~, dx~, dy~, m] per joint (C = 5), flattened to V*C;
- sec 2.5: the Pose Encoder, "a perceptron-based lightweight mapping" p_t -> u_t in R^{d_u}; without
  the RGB branch the fusion f_t = sigma(W_f [v_t; u_t] + b_f) reduces to the encoder's last
  Linear-BN-ReLU layer, so f_t = u_t here; then Global Temporal Aggregation by temporal MEAN
  pooling g = 1/T sum_t f_t; then the classifier;
- sec 2.6: at inference SportNet averages the T segment probabilities; with mean-pooled features and
  one linear classifier this is the same single forward pass (we return logits of g).

Data flow::

    x (B,T,V,C) -> flatten joints (B*T, V*C)
        -> [Linear -> BN -> ReLU -> Dropout] x num_layers     (per-frame encoder, u_t = f_t)
        -> (B, T, hidden) -> mean over T: g (B, hidden)       (sec 2.5, eq for g)
        -> Dropout -> Linear -> logits (B, num_classes)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._common import SkeletonModel
from .registry import register_model


class SportNetPose(SkeletonModel):
    def __init__(self, num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5,
                 num_frames: int = 32, hidden: int = 256, num_layers: int = 2,
                 dropout: float = 0.5) -> None:
        super().__init__(num_classes, skeleton, in_channels, num_frames)
        layers: list[nn.Module] = []
        d_in = self.num_joints * in_channels
        for _ in range(num_layers):
            layers += [nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                       nn.Dropout(dropout)]
            d_in = hidden
        self.encoder = nn.Sequential(*layers)
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
