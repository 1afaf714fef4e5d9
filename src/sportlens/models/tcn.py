"""Temporal CNN baseline over frames (the strong, fast baseline of ``shared/NOTES.md``).

Source: no seed equation; ``NOTES.md`` ("Baselines measured on the real data"): a small temporal CNN
on positions + velocities + visibility (the SportNet sec 2.4 encoding, seed 000), T=32, reaches
~97.4 % top-1 on Penn Action in ~85 s on 2 cores. Joints are flattened into channels, so the
convolutions run along time only.

Data flow::

    x (B,T,V,C) -> (B, V*C, T) -> BN (per input channel)
        -> [Conv1d(k) -> BN -> ReLU] x num_layers      (width channels, length T kept)
        -> cat(mean over T, max over T) (B, 2*width)
        -> Dropout -> Linear -> logits (B, num_classes)
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ._common import SkeletonModel
from .registry import register_model


class TCN(SkeletonModel):
    def __init__(self, num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5,
                 num_frames: int = 32, width: int = 256, num_layers: int = 3, kernel_size: int = 5,
                 dropout: float = 0.5) -> None:
        super().__init__(num_classes, skeleton, in_channels, num_frames)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        d_in = self.num_joints * in_channels
        self.data_bn = nn.BatchNorm1d(d_in)
        layers: list[nn.Module] = []
        for _ in range(num_layers):
            layers += [nn.Conv1d(d_in, width, kernel_size, padding=kernel_size // 2, bias=False),
                       nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
            d_in = width
        self.convs = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_input(x)
        b, t, v, c = x.shape
        h = x.reshape(b, t, v * c).transpose(1, 2)  # (B, T, V, C) -> (B, V*C, T)
        h = self.convs(self.data_bn(h))  # (B, width, T)
        h = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)  # (B, 2*width)
        return self.fc(self.dropout(h))  # (B, num_classes)


@register_model
def tcn(num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5, num_frames: int = 32,
        width: int = 256, num_layers: int = 3, kernel_size: int = 5, dropout: float = 0.5) -> TCN:
    """Temporal CNN over frames: Conv1d-BN-ReLU stack, global average + max pooling, classifier."""
    return TCN(num_classes, skeleton, in_channels, num_frames, width=width, num_layers=num_layers,
               kernel_size=kernel_size, dropout=dropout)
