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


# ---------------------------------------------------------------- video (RGB / RGB+pose / flow) models
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # SportNet sec 2.3: frames normalised with ImageNet mean/std
IMAGENET_STD = (0.229, 0.224, 0.225)
VIDEO_INPUTS = ("rgb", "pose", "flow")


class VideoModel(nn.Module):
    """Base of the video models. The contract every one of them keeps:

    - ``inputs``: the names of the tensors ``forward`` takes, as keyword arguments, from
      ``VIDEO_INPUTS``; a batch dict from the video datasets has exactly these keys:
        ``rgb``  (B, T, 3, H, W) float32, ImageNet-normalised person-centred crops (H = W = ``image_size``);
        ``pose`` (B, T, V, C) float32, the SportNet sec 2.4 code of the same frames (C = ``in_channels``);
        ``flow`` (B, T, 2k, H, W) float32, k stacked x/y optical-flow fields, eq. 4 normalised to
                 0..255 then mapped to [-1, 1] by (f / 127.5 - 1).
    - ``forward(**inputs) -> logits (B, num_classes)``; models with a second task add their own method
      (e.g. ``forward_multitask``) that a task object in ``engine/tasks.py`` calls.
    - attributes ``num_classes``, ``num_frames``, ``image_size``, ``skeleton``, ``num_joints``,
      ``in_channels`` (pose channels) for checking a checkpoint against the data.
    """

    inputs: tuple[str, ...] = ("rgb",)

    def __init__(self, num_classes: int, num_frames: int, image_size: int, skeleton: str = "penn13",
                 in_channels: int = 5) -> None:
        super().__init__()
        if num_classes < 1 or num_frames < 1 or image_size < 16:
            raise ValueError(f"need num_classes >= 1, num_frames >= 1, image_size >= 16; got {num_classes}, "
                             f"{num_frames}, {image_size}")
        self.layout: Skeleton = get_skeleton(skeleton)
        self.skeleton, self.num_joints = skeleton, self.layout.num_joints
        self.num_classes, self.num_frames, self.image_size = int(num_classes), int(num_frames), int(image_size)
        self.in_channels = int(in_channels)

    def check_video(self, x: torch.Tensor, name: str = "rgb", channels: int | None = 3) -> torch.Tensor:
        """Validate a (B, T, C, H, W) clip tensor; returns it unchanged."""
        if x.dim() != 5:
            raise ValueError(f"{name}: expected (B, T, C, H, W), got {tuple(x.shape)}")
        if channels is not None and x.shape[2] != channels:
            raise ValueError(f"{name}: expected {channels} channels, got {x.shape[2]} (shape {tuple(x.shape)})")
        return x

    def check_pose(self, x: torch.Tensor) -> torch.Tensor:
        """Validate a (B, T, V, C) pose code; non-finite values (missing joints) become 0."""
        if x.dim() != 4 or x.shape[2] != self.num_joints or x.shape[3] != self.in_channels:
            raise ValueError(f"pose: expected (B, T, {self.num_joints}, {self.in_channels}) for skeleton "
                             f"{self.skeleton!r}, got {tuple(x.shape)}")
        return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)

    def extra_repr(self) -> str:
        return (f"inputs={self.inputs}, num_classes={self.num_classes}, num_frames={self.num_frames}, "
                f"image_size={self.image_size}")


# ---------------------------------------------------------------- object detectors (seed 002)
class DetectorModel(nn.Module):
    """Marker base of the object detectors. The contract:

    - ``forward(image)``: ``image`` (B, 3, S, S) float in [0, 1] (RGB, letterboxed to ``image_size``);
      returns the raw head outputs (B, N, 5 + num_classes), N = sum over levels of A * H_l * W_l,
      in the order level, anchor, row, column; channels (tx, ty, tw, th, objectness, class logits...),
      all before the sigmoid. Decoding and NMS live in ``engine/detection.py``.
    - attributes ``num_classes``, ``image_size``, ``strides`` (tuple of ints), ``anchors`` (buffer
      (L, A, 2), anchor width/height in input pixels), ``num_anchors``.
    """

    inputs: tuple[str, ...] = ("image",)

    def __init__(self, num_classes: int, image_size: int) -> None:
        super().__init__()
        if num_classes < 1 or image_size < 32 or image_size % 32:
            raise ValueError(f"need num_classes >= 1 and image_size a multiple of 32; got {num_classes}, "
                             f"{image_size}")
        self.num_classes, self.image_size = int(num_classes), int(image_size)


# ---------------------------------------------------------------- pose forecasters (seed 001 sec III C)
class ForecastModel(nn.Module):
    """Marker base of the pose forecasters. The contract:

    - ``forward(x)``: ``x`` (B, num_frames, V, in_channels) float, normalised observed poses (for
      ``msgcn``: x, y and a visibility channel, see ``normalize_observed`` in
      ``sportlens/forecast/training.py``); returns (B, horizon, V, 2) future poses in the same frame.
    - attributes ``skeleton``, ``num_joints``, ``num_frames`` (observed), ``horizon``, ``in_channels``.
    """

    inputs: tuple[str, ...] = ("x",)

    def __init__(self, skeleton: str, num_frames: int, horizon: int, in_channels: int) -> None:
        super().__init__()
        if num_frames < 1 or horizon < 1:
            raise ValueError(f"need num_frames >= 1 and horizon >= 1; got {num_frames}, {horizon}")
        self.layout: Skeleton = get_skeleton(skeleton)
        self.skeleton, self.num_joints = skeleton, self.layout.num_joints
        self.num_frames, self.horizon, self.in_channels = int(num_frames), int(horizon), int(in_channels)

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Validate a (B, T, V, C) batch; non-finite values become 0."""
        if x.dim() != 4 or x.shape[2] != self.num_joints or x.shape[3] != self.in_channels:
            raise ValueError(f"expected (B, T, {self.num_joints}, {self.in_channels}), got {tuple(x.shape)}")
        return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
