"""Class-stratified train/validation splits and k folds over SkeletonClips (scikit-learn)."""
from __future__ import annotations

from collections.abc import Sequence

from sportlens.data.clips import SkeletonClip


def stratified_split(clips: Sequence[SkeletonClip], val_fraction: float, seed: int = 0
                     ) -> tuple[list[SkeletonClip], list[SkeletonClip]]:
    """(train, val) with every class in the same proportion in both (reproducible by ``seed``)."""
    from sklearn.model_selection import train_test_split

    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    labels = [c.label for c in clips]
    try:
        tr, va = train_test_split(list(range(len(clips))), test_size=val_fraction, random_state=seed,
                                  stratify=labels)
    except ValueError as e:  # e.g. a class with a single clip, or fewer val clips than classes
        raise ValueError(f"cannot stratify {len(clips)} clips of {len(set(labels))} classes with "
                         f"val_fraction={val_fraction}: {e}") from None
    return [clips[i] for i in sorted(tr)], [clips[i] for i in sorted(va)]


def kfold_splits(clips: Sequence[SkeletonClip], k: int, seed: int = 0
                 ) -> list[tuple[list[SkeletonClip], list[SkeletonClip]]]:
    """k (train, val) pairs from StratifiedKFold (shuffled by ``seed``); every clip is in one val fold."""
    from sklearn.model_selection import StratifiedKFold

    labels = [c.label for c in clips]
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [([clips[i] for i in tr], [clips[i] for i in va])
            for tr, va in folds.split(list(range(len(clips))), labels)]
