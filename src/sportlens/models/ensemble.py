"""Stream ensembles: several skeleton models, each on its own group of input channels, late fusion.

Source: the joint/bone/motion multi-stream ensembles of skeleton recognition (2s-AGCN, Shi et al.
2019; MS-G3D) that the Penn Action benchmark issue asks for. Here the streams are channel groups of
one input, so an ensemble is ONE model with the common interface (one checkpoint, one ``forward``):

    x (B,T,V,C) -> x[..., group_s] (B,T,V,C_s) -> member_s -> logits z_s (B,K)     for s = 1..S
    member_logits(x) = stack(z_s) (B,S,K)
    forward(x) = log(mean_s softmax(z_s)) (B,K)   (softmax of it = the averaged probabilities)

Training uses ``StreamEnsembleTask`` (engine/tasks.py): every member gets its own cross-entropy, as
if trained alone, so the members stay diverse; validation and inference use the averaged
probabilities.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from ._common import SkeletonModel
from .registry import create_model, register_model

# The "sportnet_global" encoding (data/transforms.py): 0-4 = SportNet sec 2.4 [x~, y~, dx~, dy~, m],
# 5-8 = clip-level [xg, yg, dxg, dyg]. Stream 1 sees the per-frame-box view, stream 2 the clip view.
GLOBAL_STREAMS = ((0, 1, 2, 3, 4), (5, 6, 7, 8, 4))


class StreamEnsemble(SkeletonModel):
    def __init__(self, member: str, streams: Sequence[Sequence[int]], num_classes: int = 15,
                 skeleton: str = "penn13", in_channels: int = 5, num_frames: int = 32, **member_kwargs) -> None:
        super().__init__(num_classes, skeleton, in_channels, num_frames)
        if not streams:
            raise ValueError("a stream ensemble needs at least one stream")
        bad = sorted({c for g in streams for c in g if not 0 <= c < in_channels})
        if bad:
            raise ValueError(f"stream channels {bad} do not exist in an input of {in_channels} channels")
        self.streams = [list(map(int, g)) for g in streams]
        for i, g in enumerate(self.streams):
            self.register_buffer(f"index{i}", torch.tensor(g), persistent=False)
        self.members = nn.ModuleList(
            create_model(member, num_classes=num_classes, skeleton=skeleton, in_channels=len(g),
                         num_frames=num_frames, **member_kwargs) for g in self.streams)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_input(x)  # (B, T, V, C)
        z = [m(x.index_select(-1, getattr(self, f"index{i}"))) for i, m in enumerate(self.members)]
        return torch.stack(z, dim=1)  # (B, S, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.member_logits(x).softmax(dim=-1).mean(dim=1)  # (B, K)
        return p.clamp_min(1e-12).log()  # (B, K) log-probabilities: softmax(log p) = p


@register_model
def tcn_ensemble(num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5, num_frames: int = 32,
                 streams: Sequence[Sequence[int]] | None = None, width: int = 256, num_layers: int = 3,
                 kernel_size: int = 5, dropout: float = 0.5) -> StreamEnsemble:
    """Two temporal CNNs (``tcn``), late fusion. ``streams`` None: with the 9-channel
    ``sportnet_global`` encoding, the SportNet stream and the clip-level stream (``GLOBAL_STREAMS``);
    with any other input, two members on all channels (a two-seed ensemble)."""
    if streams is None:
        streams = GLOBAL_STREAMS if in_channels == 9 else (tuple(range(in_channels)),) * 2
    return StreamEnsemble("tcn", streams, num_classes, skeleton, in_channels, num_frames, width=width,
                          num_layers=num_layers, kernel_size=kernel_size, dropout=dropout)


# The "multistream" encoding (data/transforms.py, 19 channels): 0-4 SportNet [x~, y~, dx~, dy~, m],
# 5-8 clip-level [xg, yg, dxg, dyg], 9-13 bones [bx, by, dbx, dby, mb], 14-18 angles
# [cos a, sin a, cos q, sin q, mb]. Named channel groups (one stream each):
MULTISTREAM_CHANNELS = 19
MULTISTREAM_GROUPS = {
    "joint": (0, 1, 2, 3, 4),  # SportNet's per-frame-box joints + their velocities
    "global": (5, 6, 7, 8, 4),  # the same joints in the clip frame (posture, body travel)
    "bone": (9, 10, 11, 12, 13),  # child - parent vectors + bone motion
    "angle": (14, 15, 16, 17, 18),  # bone directions + joint angles
    "motion": (2, 3, 7, 8, 11, 12, 4),  # velocities only: joints (both frames) and bones
}
# streams presets for ``tcn_multistream``: the letters are the groups above
MULTISTREAM_PRESETS = {
    "jgb": ("joint", "global", "bone"),
    "jgba": ("joint", "global", "bone", "angle"),
    "jgbm": ("joint", "global", "bone", "motion"),
    "jgbam": ("joint", "global", "bone", "angle", "motion"),
}


def multistream_groups(preset: str) -> tuple[tuple[int, ...], ...]:
    """The channel groups of a ``MULTISTREAM_PRESETS`` name, in the 19-channel ``multistream`` code."""
    if preset not in MULTISTREAM_PRESETS:
        raise ValueError(f"unknown streams preset {preset!r}; choose one of {', '.join(MULTISTREAM_PRESETS)}")
    return tuple(MULTISTREAM_GROUPS[g] for g in MULTISTREAM_PRESETS[preset])


@register_model
def tcn_multistream(num_classes: int = 15, skeleton: str = "penn13", in_channels: int = 5, num_frames: int = 32,
                    streams: str | Sequence[Sequence[int]] = "jgb", width: int = 256, num_layers: int = 3,
                    kernel_size: int = 5, dropout: float = 0.5) -> StreamEnsemble:
    """Joint / clip-joint / bone (+ angle or motion) temporal CNNs, late fusion (2s-AGCN / MS-G3D style
    multi-stream ensemble; configs/penn_tcn_multistream.yaml: "jgb", width 128, chosen on validation).
    ``streams``: a ``MULTISTREAM_PRESETS`` name (needs the 19-channel
    ``multistream`` encoding; with any other input every member sees all channels) or explicit groups."""
    if isinstance(streams, str):
        groups = multistream_groups(streams)
        if in_channels != MULTISTREAM_CHANNELS:
            groups = (tuple(range(in_channels)),) * len(groups)
    else:
        groups = tuple(tuple(g) for g in streams)
    return StreamEnsemble("tcn", groups, num_classes, skeleton, in_channels, num_frames, width=width,
                          num_layers=num_layers, kernel_size=kernel_size, dropout=dropout)
