"""Reference library: good performances to compare athletes with (issue 7, reference-based assessment).

A reference is one folder per name inside the library folder::

    <library>/<name>/keypoints.parquet   cleaned keypoints, long format (frame, time, joint, x, y, score)
    <library>/<name>/card.json           what it is: movement, camera view, the joints (angles) that matter,
                                         fps, frames, source, creation date, measured facing/view

Library folder (``references_dir``): ``$SPORTLENS_HOME/references`` when ``SPORTLENS_HOME`` is set, else
``$XDG_DATA_HOME/sportlens/references`` when ``XDG_DATA_HOME`` is set, else
``~/.local/share/sportlens/references`` (user data, not cache: references are made by hand and must not be
cleaned away). Every function takes ``root=`` to use another folder (the CLI's ``--library``).

Sources (``load_source``): a ``sportlens analyze`` output folder (its ``keypoints.parquet``), a
``keypoints.parquet`` file of that format, or a video, which is analysed with ``sportlens.api.analyze_video``
(no overlay video, no recognition model: only the cleaned track is needed).

"The joints that matter" are angle columns of ``sportlens.kinematics.ANGLE_NAMES``. Short names are
accepted: ``knee`` -> ``left_knee_flexion, right_knee_flexion``, ``hip``, ``elbow``, ``shoulder``,
``ankle`` (dorsiflexion), ``trunk`` (``trunk_lean``). Without ``joints`` they are chosen from the reference
itself (``default_joints``): the joint-flexion angles and trunk lean that are measurable in most frames and
move at least ``MIN_DEFAULT_ROM_DEG``.

Writes are atomic: a new reference is built in a hidden staging folder and renamed into place, so a
failed ``add`` leaves the library as it was (with ``force``, the old folder is replaced only at the end).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sportlens import __version__
from sportlens.errors import InputError, OutputError
from sportlens.fsutil import write_json
from sportlens.kinematics import ANGLE_NAMES, compute_angles, joint_xy
from sportlens.skeletons import LAYOUTS, get_skeleton
from sportlens.types import PoseTrack

CARD = "card.json"
KEYPOINTS = "keypoints.parquet"
CARD_FORMAT = 1
VIEWS = ("side", "front", "back", "other")
# Joint-flexion angles and trunk lean: the angles whose meaning does not depend on where the athlete
# stands in the picture (segment angles do), so the ones comparisons use by default.
COMPARABLE_ANGLES: tuple[str, ...] = tuple(
    n for n in ANGLE_NAMES if n.endswith(("_flexion", "_dorsiflexion")) or n == "trunk_lean")
SHORT_JOINTS: dict[str, tuple[str, ...]] = {
    "knee": ("left_knee_flexion", "right_knee_flexion"),
    "hip": ("left_hip_flexion", "right_hip_flexion"),
    "elbow": ("left_elbow_flexion", "right_elbow_flexion"),
    "shoulder": ("left_shoulder_flexion", "right_shoulder_flexion"),
    "ankle": ("left_ankle_dorsiflexion", "right_ankle_dorsiflexion"),
    "trunk": ("trunk_lean",),
}
MIN_DEFAULT_ROM_DEG = 15.0  # an angle moving less than this is not "a joint that matters" by default
MIN_MEASURABLE = 0.8  # fraction of frames an angle must be measurable in to be chosen by default
MIN_PERSON_FRAMES = 0.5  # a source whose person is seen in fewer frames is refused
MIN_FRAMES = 10
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Shoulder width / trunk length above this reads as a frontal (or back) view, below SIDE_MAX as side-on.
FRONT_MIN, SIDE_MAX = 0.55, 0.35


@dataclass
class ReferenceCard:
    name: str
    movement: str
    view: str
    joints: list[str]
    fps: float
    frames: int
    duration_s: float
    skeleton: str
    source: str
    source_kind: str  # analyze-folder | keypoints | video
    created: str  # UTC, ISO 8601
    facing: int = 0  # measured: +1 faces picture right, -1 left, 0 unknown (facing the camera)
    view_measured: str = ""  # side | front | "" (unclear), from the shoulder width / trunk length ratio
    start: float | None = None
    end: float | None = None
    sportlens_version: str = __version__
    format: int = CARD_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReferenceCard":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Reference:
    card: ReferenceCard
    track: PoseTrack  # cleaned keypoints, pixels of the source video
    folder: Path | None = None  # None for an ad-hoc reference (a path given to compare)


# ---------------------------------------------------------------- library folder


def references_dir(root: str | Path | None = None) -> Path:
    """The library folder (module docstring); ``root`` wins when given."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("SPORTLENS_HOME"):
        return Path(os.environ["SPORTLENS_HOME"]).expanduser() / "references"
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]).expanduser() / "sportlens" / "references"
    return Path.home() / ".local" / "share" / "sportlens" / "references"


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise InputError(f"reference name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                         "letter or digit (it becomes a folder name)")
    return name


# ---------------------------------------------------------------- sources


def read_keypoints(path: str | Path) -> PoseTrack:
    """A ``keypoints.parquet`` of ``sportlens analyze`` (cleaned ``x, y, score``) -> PoseTrack."""
    path = Path(path)
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a corrupt file
        raise InputError(f"{path}: corrupt or not a parquet file ({type(e).__name__}: {e})") from None
    missing = [c for c in ("frame", "time", "joint", "x", "y") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected the keypoints table written "
                         "by `sportlens analyze` (frame, time, joint, x, y, score)")
    if df.empty:
        raise InputError(f"{path}: the keypoints table is empty (no frame)")
    joints = set(df["joint"].astype(str))
    layout = next((n for n, s in LAYOUTS.items() if set(s.joints) == joints), None)
    if layout is None:
        raise InputError(f"{path}: joint names match no skeleton layout ({', '.join(LAYOUTS)})")
    skel = get_skeleton(layout)
    frames = np.sort(df["frame"].unique())
    t_idx = np.searchsorted(frames, df["frame"].to_numpy())
    v_idx = np.array([skel.index(j) for j in df["joint"].astype(str)], dtype=np.int64)
    kp = np.full((len(frames), skel.num_joints, 2), np.nan)
    kp[t_idx, v_idx] = df[["x", "y"]].to_numpy(dtype=np.float64)
    sc = np.zeros((len(frames), skel.num_joints))
    if "score" in df.columns:
        sc[t_idx, v_idx] = np.nan_to_num(df["score"].to_numpy(dtype=np.float64))
    else:
        sc[np.isfinite(kp).all(axis=-1)] = 1.0
    times = np.full(len(frames), np.nan)
    times[t_idx] = df["time"].to_numpy(dtype=np.float64)
    if not np.isfinite(times).all() or np.any(np.diff(times) <= 0):
        raise InputError(f"{path}: frame times are missing or not increasing; the table is not usable")
    sc[~np.isfinite(kp).all(axis=-1)] = 0.0
    return PoseTrack(keypoints=kp, scores=sc, times=times, skeleton=layout, frame_index=frames.astype(np.int64))


def write_keypoints(track: PoseTrack, path: Path) -> None:
    V = track.num_joints
    joints = np.array(get_skeleton(track.skeleton).joints)
    df = pd.DataFrame({
        "frame": np.repeat(track.frame_index, V), "time": np.repeat(track.times, V),
        "joint": pd.Categorical(np.tile(joints, track.num_frames), categories=list(joints)),
        "x": track.keypoints[..., 0].ravel(), "y": track.keypoints[..., 1].ravel(), "score": track.scores.ravel()})
    df.to_parquet(path, index=False)


def source_kind(source: str | Path) -> str:
    p = Path(source)
    if p.is_dir():
        if (p / KEYPOINTS).is_file():
            return "analyze-folder"
        raise InputError(f"{p}: folder has no {KEYPOINTS}; give a `sportlens analyze` output folder, a "
                         "keypoints.parquet or a video")
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    if p.suffix.lower() == ".parquet":
        return "keypoints"
    if p.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    raise InputError(f"{p}: not a video ({', '.join(sorted(VIDEO_SUFFIXES))}), a keypoints.parquet or an analyze "
                     "output folder")


def load_source(source: str | Path, *, start: float | None = None, end: float | None = None,
                settings=None) -> tuple[PoseTrack, str]:
    """(cleaned track, kind) from an analyze folder, a keypoints.parquet or a video (analysed now).

    ``start``/``end`` (seconds) trim a video before analysis, or a keypoints table by its times.
    """
    kind = source_kind(source)
    p = Path(source)
    if kind == "video":
        from dataclasses import replace

        from sportlens.api import analyze_video
        from sportlens.config import AnalyzeSettings

        base = settings or AnalyzeSettings()
        s = replace(base, start=start, end=end, output=replace(base.output, video=False),
                    recognition=replace(base.recognition, enabled=False))
        track = analyze_video(p, None, s).clean
    else:
        track = read_keypoints(p / KEYPOINTS if kind == "analyze-folder" else p)
        if start is not None or end is not None:
            keep = np.ones(track.num_frames, dtype=bool)
            if start is not None:
                keep &= track.times >= start
            if end is not None:
                keep &= track.times <= end
            idx = np.flatnonzero(keep)
            if idx.size == 0:
                raise InputError(f"{p}: no frame between {start or 0:.2f}s and {end if end is not None else 'the end'}")
            track = track.slice(int(idx[0]), int(idx[-1]) + 1)
    check_track(track, str(p))
    return track, kind


def check_track(track: PoseTrack, where: str) -> None:
    if track.num_frames < MIN_FRAMES:
        raise InputError(f"{where}: only {track.num_frames} frame(s); a performance needs at least {MIN_FRAMES}")
    seen = float(track.detected_frames().mean())
    if seen < MIN_PERSON_FRAMES:
        raise InputError(f"{where}: a person is seen in only {seen:.0%} of the frames (at least "
                         f"{MIN_PERSON_FRAMES:.0%} needed); film the whole body or trim with --start/--end")


# ---------------------------------------------------------------- measured facts


def facing(track: PoseTrack) -> int:
    """+1 when the athlete faces the picture's right, -1 left, 0 unclear or a frontal view (``measured_view``).

    The nose is ahead of the ears (or the mid-shoulder) in a side view, the toes ahead of the heels;
    the sign of the median offset, when it exceeds 5 % of the trunk length, is the facing side.
    """
    trunk = trunk_length(track)
    if not np.isfinite(trunk) or trunk <= 0 or measured_view(track) == "front":
        return 0  # facing the camera: no side to mirror to
    for front, back in (("nose", "head_centre"), ("nose", "mid_shoulder"),
                        ("left_foot_index", "left_heel"), ("right_foot_index", "right_heel")):
        dx = joint_xy(track, front)[:, 0] - joint_xy(track, back)[:, 0]
        dx = dx[np.isfinite(dx)]
        if dx.size >= max(3, track.num_frames // 4):
            med = float(np.median(dx))
            if abs(med) > 0.05 * trunk:
                return 1 if med > 0 else -1
    return 0


def trunk_length(track: PoseTrack) -> float:
    """Median mid-hip -> mid-shoulder distance, pixels (the body scale used for normalisation)."""
    d = joint_xy(track, "mid_shoulder") - joint_xy(track, "mid_hip")
    n = np.hypot(d[:, 0], d[:, 1])
    n = n[np.isfinite(n) & (n > 0)]
    return float(np.median(n)) if n.size else float("nan")


def measured_view(track: PoseTrack) -> str:
    """"side" | "front" | "" from the median shoulder width over the trunk length (FRONT_MIN, SIDE_MAX)."""
    trunk = trunk_length(track)
    d = joint_xy(track, "left_shoulder") - joint_xy(track, "right_shoulder")
    w = np.abs(d[:, 0])
    w = w[np.isfinite(w)]
    if not w.size or not np.isfinite(trunk) or trunk <= 0:
        return ""
    r = float(np.median(w)) / trunk
    return "front" if r >= FRONT_MIN else "side" if r <= SIDE_MAX else ""


def expand_joints(joints: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """User joint names (angle names or short names, comma-separated allowed) -> angle names."""
    if joints is None:
        return []
    items = joints.split(",") if isinstance(joints, str) else [x for j in joints for x in str(j).split(",")]
    out: list[str] = []
    for raw in items:
        j = raw.strip().lower().replace("-", "_").replace(" ", "_")
        if not j:
            continue
        names = SHORT_JOINTS.get(j) or ((j,) if j in ANGLE_NAMES else
                                        (f"{j}_flexion",) if f"{j}_flexion" in ANGLE_NAMES else None)
        if names is None:
            raise InputError(f"unknown joint {raw.strip()!r}; use {', '.join(SHORT_JOINTS)} or an angle name "
                             f"({', '.join(COMPARABLE_ANGLES)})")
        out += [n for n in names if n not in out]
    return out


def default_joints(track: PoseTrack, view: str = "") -> list[str]:
    """The comparable angles measurable in >= MIN_MEASURABLE of the frames and moving >= MIN_DEFAULT_ROM_DEG;
    all measurable ones when none moves that much. Not ankle dorsiflexion in a front/back view (the foot
    points at the camera: its 2-D angle means nothing)."""
    ang = compute_angles(track)
    view = view or measured_view(track)
    measurable, moving = [], []
    for n in COMPARABLE_ANGLES:
        if view in ("front", "back") and "ankle" in n:
            continue
        col = ang.column(n)
        ok = np.isfinite(col)
        if ok.mean() < MIN_MEASURABLE:
            continue
        measurable.append(n)
        if np.percentile(col[ok], 95) - np.percentile(col[ok], 5) >= MIN_DEFAULT_ROM_DEG:
            moving.append(n)
    return moving or measurable


# ---------------------------------------------------------------- library operations


def _card_path(folder: Path) -> Path:
    return folder / CARD


def add_reference(name: str, source: str | Path, *, movement: str, view: str = "", joints=None,
                  force: bool = False, root: str | Path | None = None, start: float | None = None,
                  end: float | None = None, settings=None) -> ReferenceCard:
    """Store ``source`` (analyze folder, keypoints.parquet or video) as reference ``name``; return its card.

    ``view``: side | front | back | other; "" = measured from the track (side or front), an error when unclear.
    ``joints``: the angles that matter (names or short names); None = ``default_joints``.
    An existing name is an error unless ``force``.
    """
    check_name(name)
    movement = (movement or "").strip()
    if not movement:
        raise InputError("a reference needs its movement type (e.g. --movement squat)")
    view = (view or "").strip().lower()
    if view and view not in VIEWS:
        raise InputError(f"unknown view {view!r}; use one of {', '.join(VIEWS)}")
    lib = references_dir(root)
    final = lib / name
    if final.exists() and not force:
        raise InputError(f"reference {name!r} already exists in {lib}; use --force to replace it")
    wanted = expand_joints(joints)
    track, kind = load_source(source, start=start, end=end, settings=settings)
    ang = compute_angles(track)
    for j in wanted:
        if np.isfinite(ang.column(j)).mean() < 0.5:
            raise InputError(f"{source}: {j} is measurable in only {np.isfinite(ang.column(j)).mean():.0%} of the "
                             f"frames (skeleton {track.skeleton}); choose joints visible in the reference")
    vm = measured_view(track)
    if not view:
        if not vm:
            raise InputError(f"{source}: cannot tell the camera view from the pose; give --view side|front|back|other")
        view = vm
    chosen = wanted or default_joints(track, view)
    if not chosen:
        raise InputError(f"{source}: no joint angle is measurable in most frames; not usable as a reference")
    dtimes = np.diff(track.times)
    card = ReferenceCard(
        name=name, movement=movement, view=view, joints=chosen,
        fps=float(1.0 / np.median(dtimes)) if dtimes.size else 0.0, frames=track.num_frames,
        duration_s=float(track.times[-1] - track.times[0]), skeleton=track.skeleton,
        source=str(Path(source).resolve()), source_kind=kind,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        facing=facing(track), view_measured=vm, start=start, end=end)
    try:
        lib.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=lib, prefix=".sportlens-partial-"))
    except OSError as e:
        raise OutputError(f"{lib}: reference library is not writable ({e.strerror}); set SPORTLENS_HOME or "
                          "use --library") from None
    try:
        write_keypoints(track, staging / KEYPOINTS)
        write_json(_card_path(staging), card.to_dict())
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(dir=lib, prefix=".sportlens-old-"))
            os.replace(final, old / name)
        os.replace(staging, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return card


def list_references(root: str | Path | None = None) -> list[ReferenceCard]:
    """Cards of the library's references, by name (folders without a readable card are skipped)."""
    lib = references_dir(root)
    if not lib.is_dir():
        return []
    out = []
    for d in sorted(lib.iterdir()):
        if d.name.startswith(".") or not _card_path(d).is_file():
            continue
        try:
            out.append(_read_card(d))
        except InputError:
            continue
    return out


def _read_card(folder: Path) -> ReferenceCard:
    try:
        return ReferenceCard.from_dict(json.loads(_card_path(folder).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as e:
        raise InputError(f"{_card_path(folder)}: unreadable reference card ({e})") from None


def load_reference(name_or_path: str | Path, root: str | Path | None = None) -> Reference:
    """A library reference by name, or a reference folder (card.json + keypoints.parquet) by path."""
    p = Path(name_or_path)
    if _card_path(p).is_file() and (p / KEYPOINTS).is_file():
        return Reference(_read_card(p), read_keypoints(p / KEYPOINTS), p)
    lib = references_dir(root)
    name = str(name_or_path)
    if _NAME.match(name) and (lib / name / CARD).is_file():
        folder = lib / name
        return Reference(_read_card(folder), read_keypoints(folder / KEYPOINTS), folder)
    known = [c.name for c in list_references(root)]
    raise InputError(f"unknown reference {name!r} in {lib}" + (f"; known: {', '.join(known)}" if known else
                                                             " (the library is empty: `sportlens reference add`)"))


def adhoc_reference(source: str | Path, *, movement: str = "", view: str = "", joints=None,
                    start: float | None = None, end: float | None = None, settings=None) -> Reference:
    """A reference straight from a path (analyze folder, keypoints.parquet, video), not stored."""
    track, kind = load_source(source, start=start, end=end, settings=settings)
    dtimes = np.diff(track.times)
    vm = measured_view(track)
    card = ReferenceCard(
        name=Path(source).stem if Path(source).is_file() else Path(source).name, movement=movement,
        view=(view or vm), joints=expand_joints(joints) or default_joints(track, view or vm),
        fps=float(1.0 / np.median(dtimes)), frames=track.num_frames, duration_s=float(track.times[-1] - track.times[0]),
        skeleton=track.skeleton, source=str(Path(source).resolve()), source_kind=kind,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), facing=facing(track),
        view_measured=vm, start=start, end=end)
    return Reference(card, track, None)


def resolve_reference(ref: str | Path, root: str | Path | None = None, **adhoc) -> Reference:
    """``compare``'s REFERENCE: a library name or a reference folder, else a path used as an ad-hoc reference."""
    p = Path(ref)
    if (_card_path(p).is_file() and (p / KEYPOINTS).is_file()) or (not p.exists() and _NAME.match(str(ref))):
        return load_reference(ref, root)
    return adhoc_reference(p, **adhoc)
