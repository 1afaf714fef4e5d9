"""``SkeletonClipDataset``: SkeletonClips -> fixed-length SportNet pose codes for torch training.

One item: crop (train) -> spatial augmentation (train) -> per-frame encoding of the whole clip
(sec 2.4: the velocity of frame t is taken against video frame t-1, so it does not depend on how
many frames the clip has) -> T segment samples (sec 2.2: random in training, centres otherwise).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from sportlens.data.clips import SkeletonClip
from sportlens.data.transforms import (ENCODINGS, AugmentSettings, augment, encode, hflip, random_crop,
                                       segment_indices)

__all__ = ["AugmentSettings", "SkeletonClipDataset"]


class SkeletonClipDataset(Dataset):
    """Items: ``{"x": FloatTensor (T, V, C), "label": LongTensor (), "index": int}``.

    ``flip_view`` (evaluation only): items also carry ``"x_flip"``, the code of the mirrored clip (x -> -x,
    left/right joints swapped), for flip test-time augmentation (the tasks average both predictions).

    ``classes``: class names; a clip's label index is its position there. ``train``: random segment
    sampling (+ augmentation when ``augment`` is given); otherwise deterministic centre frames.
    Randomness: a fresh generator per item from (seed, index, torch's seed, a draw counter): torch
    gives every DataLoader worker and every epoch its own seed, so workers never repeat each other's
    augmentations and a run is reproducible under ``torch.manual_seed``.
    """

    def __init__(self, clips: Sequence[SkeletonClip], classes: Sequence[str], T: int = 32, train: bool = False,
                 augment: AugmentSettings | None = None, seed: int = 0,
                 encoding: str = "sportnet", flip_view: bool = False):
        self.clips = list(clips)
        self.classes = tuple(classes)
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({c.label for c in self.clips} - index.keys())
        if unknown:
            raise ValueError(f"clip labels not in classes: {', '.join(unknown)}")
        skels = {c.skeleton for c in self.clips}
        if len(skels) > 1:
            raise ValueError(f"clips mix skeleton layouts {sorted(skels)}; convert them to one first")
        self.targets = [index[c.label] for c in self.clips]  # for samplers / class weights
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown pose encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")
        if flip_view and train:
            raise ValueError("flip_view is test-time augmentation; training flips through AugmentSettings.flip_p")
        self.T, self.train, self.augment, self.seed, self.encoding = T, train, augment, seed, encoding
        self.flip_view = flip_view
        self._draws = 0

    def __len__(self) -> int:
        return len(self.clips)

    def _rng(self, i: int) -> np.random.Generator:
        self._draws += 1
        return np.random.default_rng([self.seed, i, torch.initial_seed() % 2**63, self._draws])

    def encode(self, i: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """(T, V, C) float32 code of clip i (random when ``rng`` is given and train=True)."""
        c = self.clips[i]
        kp, vis, box = c.keypoints, c.visibility, c.bbox
        aug = self.augment if (self.train and rng is not None) else None
        if aug is not None and aug.crop is not None:
            s = random_crop(c.num_frames, aug.crop, rng)
            kp, vis, box = kp[s], vis[s], None if box is None else box[s]
        if aug is not None:
            width = float(c.meta.get("width", 0.0))  # any width works: the encoding is translation-free
            kp, vis, box = augment(kp, vis, box, skeleton=c.skeleton, width=width, settings=aug, rng=rng)
        code = encode(kp, vis, box, self.encoding)  # (L, V, C)
        return code[segment_indices(len(code), self.T, train=self.train and rng is not None, rng=rng)]

    def encode_flipped(self, i: int) -> np.ndarray:
        """(T, V, C) centre-frame code of the mirrored clip i (any mirror width: the codes are translation-free)."""
        c = self.clips[i]
        kp, vis, box = hflip(c.keypoints, c.visibility, c.bbox, float(c.meta.get("width", 0.0)), c.skeleton)
        code = encode(kp, vis, box, self.encoding)  # (L, V, C)
        return code[segment_indices(len(code), self.T, train=False)]

    def __getitem__(self, i: int) -> dict:
        rng = self._rng(i) if self.train else None
        item = {"x": torch.from_numpy(self.encode(i, rng)),
                "label": torch.tensor(self.targets[i], dtype=torch.long), "index": i}
        if self.flip_view:
            item["x_flip"] = torch.from_numpy(self.encode_flipped(i))
        return item
