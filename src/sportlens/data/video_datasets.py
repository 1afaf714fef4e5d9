"""Video datasets: ``VideoSample``, loaders for the official layouts, and ``VideoClipDataset`` for torch.

Loaders (each returns ``(list[VideoSample], VideoDatasetReport)``; the report's ``classes`` is the
class order to give ``VideoClipDataset``):

- ``load_penn_action_frames(root)``: Penn Action, ``<root>/frames/NNNN/NNNNNN.jpg`` (1-based, 6 digits)
  + ``<root>/labels/NNNN.mat`` read by ``load_penn_action`` (joints, visibility, bbox, official split;
  left/right swapped to the person's sides, see ``penn.SWAP_SIDES``).
- ``load_ucf101(root, split=1)``: ``<root>/UCF-101/<Class>/v_<Class>_gXX_cYY.avi`` +
  ``<root>/ucfTrainTestlist/{classInd,trainlist0N,testlist0N}.txt``; ``subject`` = the group ``gXX``
  (UCF101's unit of its official splits: clips of a group share actor and setting).
- ``load_hmdb51(root, split=1)``: ``<root>/<class>/<video>.avi`` + ``<class>_test_split<N>.txt`` (lines
  ``<video>.avi <flag>``, 1 train, 2 test, 0 unused) in ``testTrainMulti_7030_splits/``, ``splits/`` or
  ``<root>`` itself.
- ``load_video_folder(root)``: any folder of videos + ``labels.csv`` (columns video,label,split
  [,subject]; video paths relative to root; split train/val/test), with optional per-video
  annotations ``<root>/annotations/<video stem>.npz`` (keypoints (L,V,2), visibility (L,V),
  bbox (L,4), optional skeleton name) as written by ``synthetic_video.write_synthetic_videos``.

Validation: every loader raises ``InputError`` naming the file (and line) and the problem for a
missing layout folder or split/label file, malformed lines, list lines pointing at missing videos,
unknown class names, and label files that disagree (a UCF101 list label that is not the class's
``classInd.txt`` index, a video listed both for training and testing). With ``strict=False`` a
missing video (or Penn frames folder/frame) is skipped and listed in ``report.skipped`` instead;
structural problems (missing split files, unknown classes, mismatched labels) always raise.

Penn frames: a missing frames folder or a missing ``NNNNNN.jpg`` among the clip's ``nframes`` is found
at load time (directory listing, cheap): strict -> ``InputError`` naming the file, else the clip is
skipped and counted. A corrupt JPEG is only found by decoding it: ``check_images=True`` decodes every
frame at load time (slow on the full dataset), otherwise ``VideoSample.load_frames`` raises
``InputError`` naming the file when the dataset reads it.

``VideoClipDataset`` items (the ``VideoModel`` contract, ``sportlens.models._common``; collated by
torch's default collate into a batch):

- ``rgb`` (T, 3, S, S) float32: person-centred square crops (side = the larger bbox side x
  (1 + 2 ``crop_margin``), centred on the bbox; parts outside the frame are padded with the ImageNet
  mean colour, i.e. 0 after normalisation) resized to S = ``image_size``, ImageNet-normalised. No bbox
  and no keypoints (UCF101, HMDB51): the centred square of the frame's shorter side.
- ``pose`` (T, V, 5) float32: ``encode_pose`` (SportNet sec 2.4) of the crop coordinates of every
  frame of the clip (velocities against the previous video frame), then the T sampled frames.
- ``flow`` (T, 2k, S, S) float32: ``sportlens.video.flow`` on the clip's crops (eq. 4 uint8, bound
  ``flow_bound``), k = ``flow_stack`` fields around each sampled frame, x/y interleaved, mapped by
  f / 127.5 - 1. Flow is computed on the person-centred crops, so the camera/person translation the
  crop follows is removed (a stabilised flow).
- ``label`` () long, ``index`` int; with ``heatmap_size > 0`` also ``keypoints`` (T, V, 2) float32 crop
  pixels (0 where not visible), ``visibility`` (T, V) bool, ``heatmaps`` (T, V, h, h) float32 Gaussian
  targets (``sportlens.data.heatmaps.gaussian_heatmaps``) and ``heatmap_mask`` (T, V) bool (visible and
  inside the crop).

Sampling: SportNet sec 2.2 ``segment_indices`` (random in a segment when ``train``, the segment centres
otherwise); a video shorter than ``num_frames`` repeats its frames in order (L=3, T=8 -> 0,0,0,1,1,1,2,2).
Training flips horizontally with probability ``flip_p`` (when ``flip``): pixels, flow (x negated)
and keypoints (x -> S - 1 - x) are mirrored and left/right joints swapped (the skeleton's
``flip_index``), so the person's left stays in the ``left_*`` slot. Crops are deterministic (no scale
jitter), so ``cache_dir`` can store them: the crops of every frame of a clip, (L, S, S, 3) uint8, one
``.npy`` per clip and setting, written atomically (temporary file + ``os.replace``); flow is cached
under ``<cache_dir>/flow`` by ``FlowCache``.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from sportlens.data.penn import PENN_CLASSES, load_penn_action
from sportlens.data.transforms import encode_pose, hflip, person_boxes, segment_indices
from sportlens.errors import InputError
from sportlens.skeletons import get_skeleton

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "VIDEO_INPUTS", "VideoClipDataset", "VideoDatasetReport",
           "VideoSample", "crop_frame", "crop_geometry", "load_hmdb51", "load_penn_action_frames",
           "load_ucf101", "load_video_folder"]

try:  # one definition of the contract's constants
    from sportlens.models._common import IMAGENET_MEAN, IMAGENET_STD, VIDEO_INPUTS
except ImportError:  # pragma: no cover - the models package is part of sportlens
    IMAGENET_MEAN, IMAGENET_STD, VIDEO_INPUTS = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), ("rgb", "pose", "flow")

SPLITS = ("train", "val", "test")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
_PAD_RGB = tuple(int(round(255 * m)) for m in IMAGENET_MEAN)  # 0 after normalisation
_CACHE_VERSION = "crops-v1"


# ---------------------------------------------------------------- samples
@dataclass(eq=False)  # identity: samples hold arrays (== on them is ambiguous)
class VideoSample:
    """One labelled video. Exactly one frame source: ``frames_dir`` (a folder of numbered images,
    ``frame_pattern.format(first_frame + i)``), ``video`` (a video file, decoded with PyAV's
    ``VideoReader``) or ``frames`` ((L, H, W, 3) uint8 RGB array, or a callable returning one: lazy).

    ``keypoints`` (L, V, 2) pixels of the frames (NaN or ``visibility`` False where not visible),
    ``visibility`` (L, V) bool, ``bbox`` (L, 4) (x1, y1, x2, y2) pixels: optional annotations.
    ``num_frames``: the clip length when known without decoding (frames folder: the annotation's
    length), else None (a video is decoded to know it).
    """

    name: str
    label: str
    split: str
    frames_dir: Path | None = None
    video: Path | None = None
    frames: np.ndarray | Callable[[], np.ndarray] | None = None
    keypoints: np.ndarray | None = None
    visibility: np.ndarray | None = None
    bbox: np.ndarray | None = None
    subject: str = ""
    skeleton: str = "penn13"
    fps: float = 30.0
    num_frames: int | None = None
    frame_pattern: str = "{:06d}.jpg"
    first_frame: int = 1
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_src = sum(x is not None for x in (self.frames_dir, self.video, self.frames))
        if n_src != 1:
            raise ValueError(f"VideoSample {self.name!r}: give exactly one of frames_dir, video, frames "
                             f"(got {n_src})")
        if self.frames_dir is not None:
            self.frames_dir = Path(self.frames_dir)
        if self.video is not None:
            self.video = Path(self.video)
        if isinstance(self.frames, np.ndarray):
            if self.frames.ndim != 4 or self.frames.shape[-1] != 3 or self.frames.dtype != np.uint8:
                raise ValueError(f"VideoSample {self.name!r}: frames must be (L, H, W, 3) uint8, got "
                                 f"{self.frames.shape} {self.frames.dtype}")
            self.num_frames = len(self.frames)
        if self.keypoints is not None:
            kp = np.asarray(self.keypoints, dtype=np.float64)
            V = get_skeleton(self.skeleton).num_joints
            if kp.ndim != 3 or kp.shape[1:] != (V, 2):
                raise ValueError(f"VideoSample {self.name!r}: keypoints must be (L, {V}, 2) for skeleton "
                                 f"{self.skeleton!r}, got {kp.shape}")
            vis = np.isfinite(kp).all(-1) if self.visibility is None else np.asarray(self.visibility, bool)
            if vis.shape != kp.shape[:2]:
                raise ValueError(f"VideoSample {self.name!r}: visibility must be {kp.shape[:2]}, got {vis.shape}")
            self.keypoints, self.visibility = kp, vis & np.isfinite(kp).all(-1)
        if self.bbox is not None:
            self.bbox = np.asarray(self.bbox, dtype=np.float64)
            if self.bbox.ndim != 2 or self.bbox.shape[1] != 4:
                raise ValueError(f"VideoSample {self.name!r}: bbox must be (L, 4), got {self.bbox.shape}")
        if self.num_frames is None and self.frames_dir is not None and self.keypoints is not None:
            self.num_frames = len(self.keypoints)

    @property
    def source(self) -> str:
        """Where the frames come from (for messages and cache keys)."""
        if self.frames_dir is not None:
            return str(self.frames_dir)
        if self.video is not None:
            return str(self.video)
        return f"memory:{self.name}"

    def frame_path(self, i: int) -> Path:
        """Image file of 0-based frame ``i`` (frames-folder samples)."""
        if self.frames_dir is None:
            raise ValueError(f"{self.name}: not a frames-folder sample")
        return self.frames_dir / self.frame_pattern.format(self.first_frame + int(i))

    def load_frames(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """(n, H, W, 3) uint8 RGB frames at ``indices`` (None: all). A frames folder reads only those
        images; a video is decoded up to the last one needed; a lazy source renders the clip.
        Raises ``InputError`` naming the file for a missing/unreadable image or video."""
        if self.frames_dir is not None:
            n = self.num_frames
            if indices is None:
                if n is None:
                    n = len([p for p in self.frames_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")])
                indices = range(n)
            imgs = [_read_image(self.frame_path(i)) for i in indices]
            shapes = {im.shape for im in imgs}
            if len(shapes) > 1:
                raise InputError(f"{self.frames_dir}: frames of one clip differ in size ({sorted(shapes)})")
            return np.stack(imgs) if imgs else np.zeros((0, 1, 1, 3), np.uint8)
        if self.video is not None:
            stop = None if indices is None or len(indices) == 0 else int(np.max(indices)) + 1
            arr = _decode_video(self.video, stop)
        else:
            arr = self.frames() if callable(self.frames) else self.frames
            arr = np.asarray(arr)
            if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
                raise ValueError(f"{self.name}: frames source returned {arr.shape} {arr.dtype}, "
                                 "expected (L, H, W, 3) uint8")
        if indices is None:
            return arr
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(arr)):
            raise InputError(f"{self.source}: frame {int(idx.max())} requested but the clip has {len(arr)} frames")
        return arr[idx]

    def cache_key(self) -> str:
        """Identity of the clip's pixels and crop boxes (name, source, file size/mtime, bbox/keypoints)."""
        h = hashlib.sha1(f"{self.name}|{self.source}".encode())
        for p in (self.video,):
            if p is not None and p.exists():
                st = p.stat()
                h.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
        for a in (self.bbox, self.keypoints):
            if a is not None:
                h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("._")[:60] or "clip"
        return f"{stem}-{h.hexdigest()[:12]}"


def _read_image(path: Path) -> np.ndarray:
    if not path.exists():
        raise InputError(f"{path}: frame image not found (the clip's frames folder is incomplete)")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{path}: not a readable image (corrupt or truncated JPEG?); re-extract the frames")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _decode_video(path: Path, stop: int | None) -> np.ndarray:
    from sportlens.video.reader import VideoReader

    reader = VideoReader(path, threaded=False)  # one reader per DataLoader worker
    out = []
    for fr in reader:
        out.append(fr.image)
        if stop is not None and len(out) >= stop:
            break
    if not out:
        raise InputError(f"{path}: no frame could be decoded")
    return np.stack(out)


# ---------------------------------------------------------------- reports
@dataclass
class VideoDatasetReport:
    """What a loader read, returned and skipped."""

    dataset: str
    root: str
    split: str  # the official split read ("1".."3", "official" for Penn, "labels.csv")
    classes: tuple[str, ...] = ()
    samples: int = 0
    per_split: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (item, reason): strict=False only
    unused: int = 0  # list entries the split does not use (HMDB51 flag 0)
    annotations: dict[str, Any] | None = None  # Penn: the PennReport of the labels

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        splits = ", ".join(f"{n} {s}" for s, n in sorted(self.per_split.items())) or "none"
        return (f"{self.dataset} at {self.root} (split {self.split}): {self.samples} videos ({splits}) of "
                f"{len(self.classes)} classes; {self.unused} unused entries; skipped {len(self.skipped)}"
                + (": " + "; ".join(f"{a}: {b}" for a, b in self.skipped[:10]) if self.skipped else "") + ".")


def _finish(report: VideoDatasetReport, samples: list[VideoSample]) -> tuple[list[VideoSample], VideoDatasetReport]:
    report.samples = len(samples)
    report.per_split = dict(sorted(Counter(s.split for s in samples).items()))
    counts: dict[str, Counter] = {}
    for s in samples:
        counts.setdefault(s.label, Counter())[s.split] += 1
    report.class_counts = {k: dict(sorted(v.items())) for k, v in sorted(counts.items())}
    return samples, report


def _problem(strict: bool, report: VideoDatasetReport, item: str, message: str) -> None:
    """strict: raise ``InputError(message)``; else record it as skipped."""
    if strict:
        raise InputError(message + " (pass strict=False to skip such entries)")
    report.skipped.append((item, message))


def _read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines; InputError naming ``path`` if missing."""
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"{path}: cannot read {what} ({e.strerror})") from None
    return [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]


# ---------------------------------------------------------------- Penn Action (frames)
def load_penn_action_frames(root: str | Path, *, split: str | None = None, strict: bool = True,
                            check_images: bool = False) -> tuple[list[VideoSample], VideoDatasetReport]:
    """Penn Action clips with their frames folders: ``<root>/frames/NNNN/NNNNNN.jpg`` + ``<root>/labels``.

    Annotations come from ``load_penn_action`` (same ``split``/``strict``). A missing frames folder or
    frame file: ``strict`` -> ``InputError`` naming it, else the clip is skipped (``report.skipped``).
    ``check_images`` also decodes every JPEG now (finds corrupt files up front; slow on the full set).
    """
    root = Path(root)
    frames_root = root / "frames"
    if not frames_root.is_dir():
        raise InputError(f"{frames_root}: no frames/ folder (expected the official Penn Action layout "
                         "<root>/frames/NNNN/NNNNNN.jpg next to <root>/labels/NNNN.mat)")
    clips, penn_report = load_penn_action(root, split=split, strict=strict)
    report = VideoDatasetReport(dataset="Penn Action", root=str(root), split="official", classes=PENN_CLASSES,
                                annotations=penn_report.to_dict())
    samples = []
    for c in clips:
        d = frames_root / c.name
        if not d.is_dir():
            _problem(strict, report, c.name, f"{d}: frames folder of clip {c.name} not found")
            continue
        present = set(os.listdir(d))
        missing = [f"{i:06d}.jpg" for i in range(1, c.num_frames + 1) if f"{i:06d}.jpg" not in present]
        if missing:
            _problem(strict, report, c.name, f"{d / missing[0]}: missing frame ({len(missing)} of the "
                     f"{c.num_frames} annotated frames of clip {c.name} are missing)")
            continue
        if check_images:
            bad = next((f"{i:06d}.jpg" for i in range(1, c.num_frames + 1)
                        if cv2.imread(str(d / f"{i:06d}.jpg"), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None), None)
            if bad is not None:
                _problem(strict, report, c.name, f"{d / bad}: corrupt or unreadable JPEG in clip {c.name}")
                continue
        samples.append(VideoSample(name=c.name, label=c.label, split=c.split, frames_dir=d, keypoints=c.keypoints,
                                   visibility=c.visibility, bbox=c.bbox, skeleton=c.skeleton, fps=c.fps,
                                   num_frames=c.num_frames, meta=dict(c.meta)))
    return _finish(report, samples)


# ---------------------------------------------------------------- UCF101
_UCF_GROUP = re.compile(r"_(g\d+)_c\d+", re.IGNORECASE)


def _check_split_number(split: int, n: int = 3) -> int:
    if split not in range(1, n + 1):
        raise ValueError(f"split must be 1..{n} (the official train/test splits), got {split!r}")
    return int(split)


def load_ucf101(root: str | Path, split: int = 1, *, strict: bool = True) -> tuple[list[VideoSample], VideoDatasetReport]:
    """UCF101 official split ``split`` (1-3): train and test videos, classes in ``classInd.txt`` order.

    ``root`` holds ``UCF-101/`` (or the class folders directly) and ``ucfTrainTestlist/``.
    """
    split = _check_split_number(split)
    root = Path(root)
    videos = root / "UCF-101" if (root / "UCF-101").is_dir() else root
    lists = root / "ucfTrainTestlist"
    if not lists.is_dir():
        raise InputError(f"{lists}: UCF101 split folder not found (expected the official layout "
                         "<root>/UCF-101/<Class>/v_<Class>_gXX_cYY.avi and <root>/ucfTrainTestlist/"
                         "classInd.txt, trainlist0N.txt, testlist0N.txt)")
    ind_file = lists / "classInd.txt"
    class_index: dict[str, int] = {}
    for ln, text in _read_lines(ind_file, "UCF101 class index file"):
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise InputError(f"{ind_file}:{ln}: expected '<index> <ClassName>', got {text!r}")
        idx, name = int(parts[0]), parts[1]
        if name in class_index or idx in class_index.values():
            raise InputError(f"{ind_file}:{ln}: class {name!r} or index {idx} appears twice")
        class_index[name] = idx
    if not class_index:
        raise InputError(f"{ind_file}: no classes listed")
    classes = tuple(sorted(class_index, key=class_index.get))
    report = VideoDatasetReport(dataset="UCF101", root=str(root), split=str(split), classes=classes)
    samples: list[VideoSample] = []
    seen: dict[str, str] = {}
    for sp, fname in (("train", f"trainlist{split:02d}.txt"), ("test", f"testlist{split:02d}.txt")):
        path = lists / fname
        for ln, text in _read_lines(path, f"UCF101 {sp} list"):
            parts = text.split()
            if len(parts) not in (1, 2) or (sp == "train" and len(parts) != 2):
                want = "'<Class>/<video>.avi <label>'" if sp == "train" else "'<Class>/<video>.avi'"
                raise InputError(f"{path}:{ln}: expected {want}, got {text!r}")
            rel = parts[0].replace("\\", "/")
            cls = rel.split("/")[0] if "/" in rel else ""
            if cls not in class_index:
                raise InputError(f"{path}:{ln}: unknown class {cls!r} in {rel!r} (not in {ind_file.name}); "
                                 "the list and classInd.txt do not belong together")
            if len(parts) == 2:
                if not parts[1].lstrip("-").isdigit():
                    raise InputError(f"{path}:{ln}: label {parts[1]!r} is not an integer")
                if int(parts[1]) != class_index[cls]:
                    raise InputError(f"{path}:{ln}: label {parts[1]} of {rel!r} does not match {ind_file.name}, "
                                     f"where {cls} is {class_index[cls]} (mismatched label files)")
            if rel in seen:
                raise InputError(f"{path}:{ln}: {rel!r} is listed twice (also in the {seen[rel]} list)"
                                 + (": train and test lists overlap" if seen[rel] != sp else ""))
            seen[rel] = sp
            file = videos / rel
            if not file.is_file():
                _problem(strict, report, rel, f"{path}:{ln}: video {file} not found")
                continue
            g = _UCF_GROUP.search(Path(rel).stem)
            samples.append(VideoSample(name=Path(rel).stem, label=cls, split=sp, video=file,
                                       subject=g.group(1).lower() if g else "", skeleton="penn13"))
    return _finish(report, samples)


# ---------------------------------------------------------------- HMDB51
def load_hmdb51(root: str | Path, split: int = 1, *, splits_dir: str | Path | None = None,
                strict: bool = True) -> tuple[list[VideoSample], VideoDatasetReport]:
    """HMDB51 official split ``split`` (1-3): flag 1 = train, 2 = test, 0 = unused (counted).

    Videos ``<root>/<class>/<video>.avi``; split files ``<class>_test_split<N>.txt`` in ``splits_dir``
    or, searched in order, ``<root>/testTrainMulti_7030_splits``, ``<root>/splits``, ``<root>``.
    Classes: those with a split file, sorted (HMDB51's usual order).
    """
    split = _check_split_number(split)
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: HMDB51 folder not found")
    candidates = [Path(splits_dir)] if splits_dir is not None else [
        root / "testTrainMulti_7030_splits", root / "splits", root]
    suffix = f"_test_split{split}.txt"
    sdir = next((d for d in candidates if d.is_dir() and any(d.glob(f"*{suffix}"))), None)
    if sdir is None:
        raise InputError(f"no HMDB51 split files '*{suffix}' in {', '.join(map(str, candidates))} (expected the "
                         "official <class>_test_split<N>.txt files of testTrainMulti_7030_splits)")
    split_files = {p.name[: -len(suffix)]: p for p in sorted(sdir.glob(f"*{suffix}"))}
    classes = tuple(sorted(split_files))
    # every class folder with videos needs a split file
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.resolve() != sdir.resolve()):
        if d.name not in split_files and any(f.suffix.lower() in VIDEO_EXTENSIONS for f in d.iterdir()):
            raise InputError(f"{sdir / (d.name + suffix)}: missing split file for the video folder {d} "
                             f"(class {d.name!r})")
    report = VideoDatasetReport(dataset="HMDB51", root=str(root), split=str(split), classes=classes)
    samples: list[VideoSample] = []
    for cls, path in split_files.items():
        cdir = root / cls
        if not cdir.is_dir():
            raise InputError(f"{path}: unknown class {cls!r}: there is no video folder {cdir} "
                             "(split files and videos do not belong together)")
        seen: set[str] = set()
        for ln, text in _read_lines(path, "HMDB51 split file"):
            parts = text.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise InputError(f"{path}:{ln}: expected '<video>.avi <0|1|2>' (1 train, 2 test, 0 unused), "
                                 f"got {text!r}")
            name, flag = parts[0], int(parts[1])
            if name in seen:
                raise InputError(f"{path}:{ln}: {name!r} is listed twice")
            seen.add(name)
            if flag == 0:
                report.unused += 1
                continue
            file = cdir / name
            if not file.is_file():
                _problem(strict, report, f"{cls}/{name}", f"{path}:{ln}: video {file} not found")
                continue
            samples.append(VideoSample(name=Path(name).stem, label=cls, split="train" if flag == 1 else "test",
                                       video=file))
    return _finish(report, samples)


# ---------------------------------------------------------------- generic folder
def _annotations(path: Path, n_joints_of: Callable[[str], int]) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as z:
            ann = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable annotation file ({e})") from None
    if "keypoints" not in ann:
        raise InputError(f"{path}: annotation file has no 'keypoints' array (has {sorted(ann)})")
    skeleton = str(ann.get("skeleton", "penn13"))
    V = n_joints_of(skeleton)
    kp = ann["keypoints"]
    if kp.ndim != 3 or kp.shape[1:] != (V, 2):
        raise InputError(f"{path}: keypoints must be (L, {V}, 2) for skeleton {skeleton!r}, got {kp.shape}")
    vis = ann.get("visibility")
    if vis is not None and vis.shape != kp.shape[:2]:
        raise InputError(f"{path}: visibility must be {kp.shape[:2]}, got {vis.shape}")
    box = ann.get("bbox")
    if box is not None and box.shape != (len(kp), 4):
        raise InputError(f"{path}: bbox must be ({len(kp)}, 4), got {box.shape}")
    return {"keypoints": kp, "visibility": vis, "bbox": box, "skeleton": skeleton}


def load_video_folder(root: str | Path, *, classes: Sequence[str] | None = None,
                      strict: bool = True) -> tuple[list[VideoSample], VideoDatasetReport]:
    """Videos listed in ``<root>/labels.csv`` (columns video,label,split[,subject]; split train/val/test;
    video paths relative to ``root``). ``classes``: the allowed class names, in label-index order
    (a label outside them is an error); default: the sorted labels found."""
    import pandas as pd

    root = Path(root)
    csv_path = root / "labels.csv"
    if not csv_path.is_file():
        raise InputError(f"{csv_path}: label file not found (a video folder needs labels.csv with columns "
                         "video,label,split[,subject])")
    try:
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        raise InputError(f"{csv_path}: not a readable CSV file ({e})") from None
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in ("video", "label", "split") if c not in df.columns]
    if missing:
        raise InputError(f"{csv_path}: missing column(s) {', '.join(missing)}; has {', '.join(df.columns)}")
    if df.empty:
        raise InputError(f"{csv_path}: no videos listed")
    allowed = None if classes is None else tuple(classes)
    report = VideoDatasetReport(dataset="video folder", root=str(root), split="labels.csv")
    samples: list[VideoSample] = []
    seen: set[str] = set()
    for row, r in enumerate(df.itertuples(index=False), start=2):  # line 1 is the header
        video, label, sp = r.video.strip(), r.label.strip(), r.split.strip().lower()
        where = f"{csv_path}:{row}"
        if not video or not label:
            raise InputError(f"{where}: empty video or label")
        if sp not in SPLITS:
            raise InputError(f"{where}: split {r.split!r} must be one of {', '.join(SPLITS)}")
        if allowed is not None and label not in allowed:
            raise InputError(f"{where}: unknown class {label!r} (classes: {', '.join(allowed)})")
        if video in seen:
            raise InputError(f"{where}: video {video!r} is listed twice")
        seen.add(video)
        file = Path(video) if Path(video).is_absolute() else root / video
        if not file.is_file():
            _problem(strict, report, video, f"{where}: video {file} not found")
            continue
        ann_path = root / "annotations" / f"{Path(video).stem}.npz"
        ann = _annotations(ann_path, lambda s: get_skeleton(s).num_joints) if ann_path.is_file() else {}
        samples.append(VideoSample(name=Path(video).stem, label=label, split=sp, video=file,
                                   subject=str(getattr(r, "subject", "") or ""),
                                   keypoints=ann.get("keypoints"), visibility=ann.get("visibility"),
                                   bbox=ann.get("bbox"), skeleton=ann.get("skeleton", "penn13")))
    report.classes = allowed if allowed is not None else tuple(sorted({s.label for s in samples}))
    return _finish(report, samples)


# ---------------------------------------------------------------- cropping
def crop_geometry(bbox: np.ndarray | None, frame_wh: tuple[int, int], L: int, margin: float) -> np.ndarray:
    """(L, 3) square crop per frame, (x0, y0, side) in frame pixels.

    With a bbox: centred on the box, side = its larger side x (1 + 2 margin). Without: the centred square
    of the frame's shorter side. Boxes may reach outside the frame (padded when cropping).
    """
    W, H = frame_wh
    if bbox is None:
        side = float(min(W, H))
        return np.tile([(W - side) / 2, (H - side) / 2, side], (L, 1))
    b = np.asarray(bbox, dtype=np.float64)[:L]
    c = (b[:, :2] + b[:, 2:]) / 2
    side = np.maximum((b[:, 2:] - b[:, :2]).max(axis=1) * (1 + 2 * margin), 2.0)
    return np.concatenate([c - side[:, None] / 2, side[:, None]], axis=1)


def crop_frame(frame: np.ndarray, x0: float, y0: float, side: float, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the square [x0, x0+side) x [y0, y0+side) of ``frame`` resized to ``size``.
    Outside the frame: the ImageNet mean colour. A frame point (x, y) lands at ((x - x0) s, (y - y0) s),
    s = size / side (pixel centres at integer coordinates), the mapping used for the keypoints."""
    s = size / side
    img, fx, fy = frame, 1.0, 1.0
    if s < 0.5:  # shrink first with area averaging (warpAffine alone would alias)
        h, w = frame.shape[:2]
        nw, nh = max(1, int(round(w * 2 * s))), max(1, int(round(h * 2 * s)))
        img = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
        fx, fy = nw / w, nh / h
    # shrunk frame: x' = (x + 0.5) fx - 0.5, so u = s (x - x0) = (s / fx) x' + s (0.5 / fx - 0.5 - x0)
    M = np.array([[s / fx, 0.0, s * (0.5 / fx - 0.5 - x0)],
                  [0.0, s / fy, s * (0.5 / fy - 0.5 - y0)]])
    return cv2.warpAffine(img, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=_PAD_RGB)


def _atomic_save(path: Path, arr: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- torch dataset
class VideoClipDataset(Dataset):
    """``VideoSample``s -> model-ready dicts (see the module docstring for keys, shapes and choices).

    ``classes``: class names, a sample's label index is its position there. ``train``: random segment
    sampling and flips; otherwise segment centres, no flip. ``inputs``: any of "rgb", "pose", "flow".
    ``heatmap_size`` > 0 adds the pose-estimation targets. Randomness as in ``SkeletonClipDataset``: a
    fresh generator per item from (seed, index, torch's seed, a draw counter).
    """

    def __init__(self, samples: Sequence[VideoSample], classes: Sequence[str], num_frames: int = 16,
                 image_size: int = 112, train: bool = False, inputs: Sequence[str] = ("rgb",), flip: bool = True,
                 seed: int = 0, cache_dir: str | Path | None = None, heatmap_size: int = 0, flow_stack: int = 5, *,
                 crop_margin: float = 0.15, flip_p: float = 0.5, heatmap_sigma: float = 1.5,
                 flow_method: str = "farneback", flow_bound: float = 20.0, skeleton: str | None = None):
        self.samples = list(samples)
        self.classes = tuple(classes)
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({s.label for s in self.samples} - index.keys())
        if unknown:
            raise ValueError(f"sample labels not in classes: {', '.join(unknown)}")
        self.targets = [index[s.label] for s in self.samples]
        self.inputs = tuple(inputs)
        bad = [x for x in self.inputs if x not in VIDEO_INPUTS]
        if bad or not self.inputs:
            raise ValueError(f"inputs must be a non-empty subset of {VIDEO_INPUTS}, got {self.inputs}")
        if num_frames < 1 or image_size < 8:
            raise ValueError(f"need num_frames >= 1 and image_size >= 8, got {num_frames}, {image_size}")
        if heatmap_size < 0 or flow_stack < 1:
            raise ValueError(f"need heatmap_size >= 0 and flow_stack >= 1, got {heatmap_size}, {flow_stack}")
        skels = {s.skeleton for s in self.samples if s.keypoints is not None}
        if len(skels) > 1:
            raise ValueError(f"samples mix skeleton layouts {sorted(skels)}; convert them to one first")
        self.skeleton = skeleton or (skels.pop() if skels else "penn13")
        self.layout = get_skeleton(self.skeleton)
        if "pose" in self.inputs or heatmap_size > 0:
            no_kp = [s.name for s in self.samples if s.keypoints is None]
            if no_kp:
                raise ValueError(f"'pose' input / heatmaps need keypoints, missing in {len(no_kp)} sample(s) "
                                 f"(e.g. {', '.join(no_kp[:3])})")
        self.T, self.size, self.train, self.flip, self.flip_p = int(num_frames), int(image_size), bool(train), flip, flip_p
        self.seed, self.margin = seed, float(crop_margin)
        self.heatmap_size, self.heatmap_sigma = int(heatmap_size), float(heatmap_sigma)
        self.flow_stack, self.flow_method, self.flow_bound = int(flow_stack), flow_method, float(flow_bound)
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        if "flow" in self.inputs:  # imported only on the flow path (fails early if it is missing)
            importlib.import_module("sportlens.video.flow")
        self._mean = np.array(IMAGENET_MEAN, np.float32) * 255
        self._std = np.array(IMAGENET_STD, np.float32) * 255
        self._draws = 0

    def __len__(self) -> int:
        return len(self.samples)

    def _rng(self, i: int) -> np.random.Generator:
        self._draws += 1
        return np.random.default_rng([self.seed, i, torch.initial_seed() % 2**63, self._draws])

    # ---- frames and crops
    def _cache_path(self, s: VideoSample) -> Path:
        tag = f"{_CACHE_VERSION}-s{self.size}-m{self.margin:g}"
        return self.cache_dir / f"{s.cache_key()}-{tag}.npy"

    def _boxes(self, s: VideoSample, L: int) -> np.ndarray | None:
        """(L, 4) crop-source box per frame, or None (no annotations: centre crop)."""
        if s.bbox is not None:
            b = s.bbox[:L]
            if s.keypoints is not None:
                b = person_boxes(s.keypoints[:L], s.visibility[:L], b)  # repairs degenerate rows
            return b
        if s.keypoints is not None:
            return person_boxes(s.keypoints[:L], s.visibility[:L])
        return None

    def _length(self, s: VideoSample, known: int | None) -> int:
        """Usable clip length: the frames, cut to the annotation's length when that is shorter."""
        n = known
        for a in (s.keypoints, s.bbox):
            if a is not None:
                n = len(a) if n is None else min(n, len(a))
        if n is None or n < 1:
            raise InputError(f"{s.source}: clip {s.name} has no frames")
        return n

    def all_crops(self, s: VideoSample) -> tuple[np.ndarray, np.ndarray]:
        """(L, S, S, 3) uint8 crops of every frame and the (L, 3) crop geometry (cached when
        ``cache_dir`` is set)."""
        path = self._cache_path(s) if self.cache_dir is not None else None
        gpath = None if path is None else path.with_name(path.stem + ".geom.npy")
        if path is not None and path.exists() and gpath.exists():
            crops, geom = np.load(path, mmap_mode="r"), np.load(gpath)
            if len(geom) != len(crops):
                raise InputError(f"{path}: cache entry does not match {gpath.name}; delete the cache folder")
            return crops, geom
        frames = s.load_frames()
        L = self._length(s, len(frames))
        geom = crop_geometry(self._boxes(s, L), (frames.shape[2], frames.shape[1]), L, self.margin)
        crops = np.stack([crop_frame(frames[t], *geom[t], self.size) for t in range(L)])
        if path is not None:
            _atomic_save(gpath, geom)
            _atomic_save(path, crops)  # last: its presence means the entry is complete
        return crops, geom

    def _sampled_crops(self, s: VideoSample, idx_fn: Callable[[int], np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray | None]:
        """(crops (T,S,S,3), indices (T,), geometry (L,3), L, all crops (L,S,S,3) or None)."""
        need_all = self.cache_dir is not None or "flow" in self.inputs or s.video is not None \
            or s.num_frames is None or callable(s.frames)
        if need_all:
            crops_all, geom = self.all_crops(s)
            L = len(crops_all)
            idx = idx_fn(L)
            return np.asarray(crops_all[idx]), idx, geom, L, crops_all
        L = self._length(s, s.num_frames)
        idx = idx_fn(L)
        frames = s.load_frames(idx)
        geom = crop_geometry(self._boxes(s, L), (frames.shape[2], frames.shape[1]), L, self.margin)
        crops = np.stack([crop_frame(frames[k], *geom[t], self.size) for k, t in enumerate(idx)])
        return crops, idx, geom, L, None

    # ---- item
    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        rng = self._rng(i) if self.train else None
        crops, idx, geom, L, crops_all = self._sampled_crops(
            s, lambda L: segment_indices(L, self.T, train=self.train, rng=rng))
        flipped = bool(self.train and self.flip and rng is not None and rng.random() < self.flip_p)
        out: dict[str, Any] = {}
        S = self.size
        if flipped:
            crops = crops[:, :, ::-1]
        if "rgb" in self.inputs:
            x = (crops.astype(np.float32) - self._mean) / self._std  # (T, S, S, 3)
            out["rgb"] = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
        if s.keypoints is not None and ("pose" in self.inputs or self.heatmap_size > 0):
            scale = (S / geom[:, 2])[:, None, None]  # (L, 1, 1)
            kp = (s.keypoints[:L] - geom[:, None, :2]) * scale  # (L, V, 2) crop pixels
            vis = s.visibility[:L]
            box = self._boxes(s, L)
            box_c = None if box is None else (box - np.tile(geom[:, :2], 2)) * np.tile(scale[:, 0], 4)
            if flipped:
                kp, vis, box_c = hflip(kp, vis, box_c, float(S - 1), self.skeleton)
            if "pose" in self.inputs:
                out["pose"] = torch.from_numpy(encode_pose(kp, vis, box_c)[idx])
            if self.heatmap_size > 0:
                out.update(self._pose_targets(kp[idx], vis[idx]))
        if "flow" in self.inputs:
            out["flow"] = torch.from_numpy(self._flow_stack(s, crops_all, idx, flipped))
        out["label"] = torch.tensor(self.targets[i], dtype=torch.long)
        out["index"] = i
        return out

    def _pose_targets(self, kp: np.ndarray, vis: np.ndarray) -> dict[str, torch.Tensor]:
        S, h = self.size, self.heatmap_size
        vis = vis & np.isfinite(kp).all(-1)
        inside = vis & (kp >= -0.5).all(-1) & (kp <= S - 0.5).all(-1)
        kp_h = (kp + 0.5) * (h / S) - 0.5  # crop pixels -> heatmap pixels (pixel centres)
        maps = _gaussian_heatmaps(np.where(inside[..., None], kp_h, np.nan), inside, h, self.heatmap_sigma)
        return {"keypoints": torch.from_numpy(np.where(vis[..., None], kp, 0.0).astype(np.float32)),
                "visibility": torch.from_numpy(vis.copy()),
                "heatmaps": torch.from_numpy(maps),
                "heatmap_mask": torch.from_numpy(inside)}

    def _flow_stack(self, s: VideoSample, crops_all: np.ndarray, idx: np.ndarray, flipped: bool) -> np.ndarray:
        k, S = self.flow_stack, self.size
        if len(crops_all) < 2:  # one frame: no motion
            return np.zeros((len(idx), 2 * k, S, S), np.float32)
        from sportlens.video import flow as fm

        if self.cache_dir is not None:
            settings = {"method": self.flow_method, "bound": self.flow_bound, "crop": _CACHE_VERSION,
                        "image_size": S, "crop_margin": self.margin}
            norm = fm.FlowCache(self.cache_dir / "flow").get(s.cache_key(), lambda: np.asarray(crops_all), settings)
        else:
            norm = fm.normalise_flow(fm.compute_flow(np.asarray(crops_all), self.flow_method), self.flow_bound)
        st = fm.stack_flow(norm, idx, k).astype(np.float32) / 127.5 - 1.0  # (T, 2k, S, S), u0 v0 u1 v1 ...
        if flipped:
            st = st[..., ::-1].copy()
            st[:, 0::2] *= -1.0  # mirrored motion: x components change sign
        return np.ascontiguousarray(st)


def _gaussian_heatmaps(kp: np.ndarray, vis: np.ndarray, size: int, sigma: float) -> np.ndarray:
    """(..., V, size, size) float32 Gaussian targets: ``sportlens.data.heatmaps.gaussian_heatmaps``."""
    from sportlens.data.heatmaps import gaussian_heatmaps

    return gaussian_heatmaps(kp, vis, size=size, sigma=sigma)
