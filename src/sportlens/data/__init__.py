"""Datasets and transforms (layer 3): Penn Action, the generic skeleton folder, SportNet pose codes.

Clips are ``SkeletonClip`` (data/clips.py); ``SkeletonClipDataset`` turns them into
``{"x": (T, V, 5), "label": (), "index": int}`` items for torch. It is imported lazily, so that
``import sportlens.data`` (e.g. for SkeletonClip in the analyze pipeline) does not load torch.
"""
from sportlens.data.clips import SkeletonClip
from sportlens.data.penn import PENN_CLASSES, PENN_FPS, PennReport, load_penn_action
from sportlens.data.skeleton_dataset import DatasetReport, load_skeleton_dataset, save_skeleton_dataset
from sportlens.data.splits import kfold_splits, stratified_split
from sportlens.data.transforms import (
    AugmentSettings,
    augment,
    ENCODINGS,
    encode,
    encode_pose,
    estimator_noise,
    hflip,
    joint_dropout,
    person_boxes,
    random_crop,
    random_rotation,
    random_scale,
    segment_bounds,
    segment_indices,
)

__all__ = [
    "AugmentSettings", "DatasetReport", "PENN_CLASSES", "PENN_FPS", "PennReport", "SkeletonClip",
    "SkeletonClipDataset", "ENCODINGS", "augment", "encode", "encode_pose", "estimator_noise", "hflip", "joint_dropout",
    "kfold_splits", "load_penn_action", "load_skeleton_dataset", "person_boxes", "random_crop",
    "random_rotation", "random_scale", "save_skeleton_dataset", "segment_bounds", "segment_indices",
    "stratified_split",
]


def __getattr__(name: str):
    if name == "SkeletonClipDataset":  # lazy: torch is heavy and only training needs it
        from sportlens.data.torch_dataset import SkeletonClipDataset

        return SkeletonClipDataset
    raise AttributeError(f"module 'sportlens.data' has no attribute {name!r}")
