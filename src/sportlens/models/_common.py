"""Shared base of the skeleton models: the common interface attributes and the input check.

Every recognition model subclasses :class:`SkeletonModel`, so a checkpoint's model can be checked
against the data (``skeleton``, ``in_channels``, ``num_classes``, ``num_frames``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from sportlens.skeletons import Skeleton, get_skeleton


class SkeletonModel(nn.Module):
    """Base class: stores the interface attributes and validates (B, T, V, C) inputs."""

    def __init__(self, num_classes: int, skeleton: str, in_channels: int, num_frames: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        self.layout: Skeleton = get_skeleton(skeleton)  # KeyError listing the layouts if unknown
        self.skeleton = skeleton
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.num_frames = int(num_frames)
        self.num_joints = self.layout.num_joints

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Validate a (B, T, V, C) batch and replace non-finite values (missing joints) by 0.

        The data pipeline already zero-fills missing joints (their visibility channel is 0);
        NaN/inf that slip through would poison BatchNorm statistics, so they are zeroed here too.
        """
        if x.dim() != 4:
            raise ValueError(f"expected input of shape (B, T, V, C), got {tuple(x.shape)}")
        _, t, v, c = x.shape
        if v != self.num_joints or c != self.in_channels:
            raise ValueError(
                f"input has V={v}, C={c} but the model was built for skeleton {self.skeleton!r} "
                f"(V={self.num_joints}) and in_channels={self.in_channels}"
            )
        if t < 1:
            raise ValueError("input has no frames (T=0)")
        return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    def extra_repr(self) -> str:
        return (f"skeleton={self.skeleton!r}, in_channels={self.in_channels}, "
                f"num_classes={self.num_classes}, num_frames={self.num_frames}")


def interpolate_time(pos: torch.Tensor, t: int) -> torch.Tensor:
    """Resample a learned temporal embedding (T0, D) to (t, D) by linear interpolation."""
    if pos.shape[0] == t:
        return pos
    out = nn.functional.interpolate(pos.t().unsqueeze(0), size=t, mode="linear",
                                    align_corners=True)  # (1, D, t)
    return out.squeeze(0).t()  # (t, D)
