"""Multi-person views: a tracks overlay video and a contact sheet of the tracked people.

Both render what they are given: the ``PoseTrack`` list and per-ID boxes of tracking
(``sportlens.pose.tracking.TrackingResult.tracks`` / ``.boxes``, passed in as plain values: this
module does not import ``pose``). Keypoints and boxes are in the pixels of the upright, full-size
video; drawing scales them to the decoded frame size.

- ``render_tracks_video``: an MP4 of the analysed range; in each frame, every person present gets
  their skeleton, their box and a large "ID n" label, all in the person's colour (``id_colour``).
  Decoded frames are matched to track rows by timestamp (as in ``report.video``), so trimmed and
  variable-frame-rate videos stay in sync. Long ranges are cut into chunks rendered by parallel
  threads and joined without re-encoding (as the overlay video is).
- ``contact_sheet``: one PNG, one tile per ID: the person's crop at a representative frame (the most
  joints visible, nearest the middle of their presence), the ID in its colour and optional text
  lines (``stats[id]``). An ID never seen in the range gets a marked "not seen" tile (or is
  skipped, ``skip_absent=True``).

Colours: ``id_colour(person_id)`` is a fixed function of the ID (the same in the video and in the
sheet): the Okabe-Ito palette first, then a few more, then golden-angle hues.
"""
from __future__ import annotations

import colorsys
import math
import os
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import cv2
import numpy as np

from sportlens.fsutil import atomic_path
from sportlens.report.draw import OUTLINE_COLOR, _drawable, _font_scale, _points, line_thickness, put_text
from sportlens.report.video import _match
from sportlens.skeletons import get_skeleton
from sportlens.types import PoseTrack
from sportlens.video import VideoReader, VideoWriter, concat_mp4, probe
from sportlens.video.chunks import chunk_ranges

Colour = tuple[int, int, int]

# RGB, distinct and bright enough to read on video: Okabe-Ito (no black), then extras.
ID_PALETTE: tuple[Colour, ...] = (
    (230, 159, 0),    # orange
    (86, 180, 233),   # sky blue
    (0, 158, 115),    # bluish green
    (240, 228, 66),   # yellow
    (0, 114, 178),    # blue
    (213, 94, 0),     # vermillion
    (204, 121, 167),  # reddish purple
    (148, 103, 189),  # purple
    (23, 190, 207),   # cyan
    (188, 189, 34),   # olive
    (140, 86, 75),    # brown
    (255, 255, 255),  # white
)
_GOLDEN = 0.618033988749895
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_DARK_TEXT: Colour = (20, 20, 20)
_LIGHT_TEXT: Colour = (250, 250, 250)


def id_colour(person_id: int) -> Colour:
    """Stable RGB colour of a person ID: the palette for IDs 1..12, golden-angle hues after."""
    pid = int(person_id)
    if 1 <= pid <= len(ID_PALETTE):
        return ID_PALETTE[pid - 1]
    h = (0.11 + pid * _GOLDEN) % 1.0  # spread around the hue circle, deterministic
    r, g, b = colorsys.hsv_to_rgb(h, 0.75, 0.95)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _text_on(colour: Colour) -> Colour:
    """Dark or light text, whichever reads better on ``colour``."""
    r, g, b = colour
    return _DARK_TEXT if 0.299 * r + 0.587 * g + 0.114 * b > 140 else _LIGHT_TEXT


# ---------------------------------------------------------------- per-track presence and boxes

def _box_rows(track: PoseTrack, boxes: Mapping[int, np.ndarray] | None) -> np.ndarray:
    """(T, 4) xyxy per track row: the given box, else the keypoints' extent (+10 %), NaN if absent."""
    T = track.num_frames
    out = np.full((T, 4), np.nan)
    given = None if boxes is None else boxes.get(int(track.person_id))
    if given is not None:
        given = np.asarray(given, dtype=np.float64).reshape(-1, 4)
        if len(given) == T:
            out[:] = given
    kp = track.keypoints
    ok = np.isfinite(kp).all(axis=-1)  # (T, V)
    need = ~np.isfinite(out).all(axis=1) & ok.any(axis=1)
    for k in np.flatnonzero(need):
        p = kp[k][ok[k]]
        x0, y0 = p.min(axis=0)
        x1, y1 = p.max(axis=0)
        mx, my = 0.1 * (x1 - x0) + 4, 0.1 * (y1 - y0) + 4
        out[k] = (x0 - mx, y0 - my, x1 + mx, y1 + my)
    return out


def _present_rows(track: PoseTrack, box_rows: np.ndarray) -> np.ndarray:
    return np.isfinite(box_rows).all(axis=1) | track.detected_frames()


# ---------------------------------------------------------------- drawing one person

def _draw_person(frame: np.ndarray, kp: np.ndarray, box: np.ndarray, skeleton: str, person_id: int,
                 scale: tuple[float, float], *, label: bool = True) -> np.ndarray:
    """Skeleton, box and "ID n" label of one person in the ID colour (in place; use the return value)."""
    frame = _drawable(frame)
    colour = id_colour(person_id)
    H, W = frame.shape[:2]
    th = line_thickness(frame)
    # Skeleton: dark outline pass, then the ID colour.
    if kp is not None and np.isfinite(kp).any():
        skel = get_skeleton(skeleton)
        pts, ok = _points(kp, None, 0.0, scale)
        if len(pts) == skel.num_joints:
            ip = np.zeros((len(pts), 2), dtype=np.int32)
            ip[ok] = np.round(pts[ok]).astype(np.int32)
            edges = [(int(i), int(j)) for i, j in skel.edge_index if ok[i] and ok[j]]
            for i, j in edges:
                cv2.line(frame, tuple(map(int, ip[i])), tuple(map(int, ip[j])), OUTLINE_COLOR, th + 2, cv2.LINE_AA)
            for i, j in edges:
                cv2.line(frame, tuple(map(int, ip[i])), tuple(map(int, ip[j])), colour, th, cv2.LINE_AA)
            r = max(2, th + 1)
            for v in np.flatnonzero(ok):
                c = tuple(map(int, ip[v]))
                cv2.circle(frame, c, r + 1, OUTLINE_COLOR, -1, cv2.LINE_AA)
                cv2.circle(frame, c, r, colour, -1, cv2.LINE_AA)
    if box is None or not np.isfinite(box).all():
        return frame
    sx, sy = scale
    x0, y0, x1, y1 = (np.asarray(box, dtype=np.float64) * (sx, sy, sx, sy)).tolist()
    if max(abs(x0), abs(y0), abs(x1), abs(y1)) > 1e6:
        return frame
    p0 = (int(round(max(-10, x0))), int(round(max(-10, y0))))
    p1 = (int(round(min(W + 10, x1))), int(round(min(H + 10, y1))))
    bt = max(2, th)
    cv2.rectangle(frame, p0, p1, OUTLINE_COLOR, bt + 2, cv2.LINE_AA)
    cv2.rectangle(frame, p0, p1, colour, bt, cv2.LINE_AA)
    if label:
        _draw_label(frame, f"ID {int(person_id)}", p0, colour)
    return frame


def _draw_label(frame: np.ndarray, text: str, box_top_left: tuple[int, int], colour: Colour) -> None:
    """A filled chip in ``colour`` with large contrasting text, above the box (inside it at the top edge)."""
    H, W = frame.shape[:2]
    fs = _font_scale(frame) * 1.6
    tt = max(2, int(round(fs * 2.2)))
    (tw, tht), base = cv2.getTextSize(text, _FONT, fs, tt)
    pad = max(3, tht // 4)
    cw, ch = tw + 2 * pad, tht + base + 2 * pad
    x = int(np.clip(box_top_left[0], 0, max(0, W - cw)))
    y = box_top_left[1] - ch  # chip's top
    if y < 0:
        y = max(0, box_top_left[1])
    y = int(min(y, max(0, H - ch)))
    cv2.rectangle(frame, (x - 1, y - 1), (x + cw, y + ch), OUTLINE_COLOR, -1)
    cv2.rectangle(frame, (x, y), (x + cw - 1, y + ch - 1), colour, -1)
    cv2.putText(frame, text, (x + pad, y + pad + tht), _FONT, fs, _text_on(colour), tt, cv2.LINE_AA)


# ---------------------------------------------------------------- the video

class _Drawer:
    """Per-frame lookup of every person's row, boxes precomputed once."""

    def __init__(self, tracks: Sequence[PoseTrack], boxes: Mapping[int, np.ndarray] | None,
                 video_size: tuple[int, int]):
        self.items = []
        for tr in tracks:
            rows = _box_rows(tr, boxes)
            self.items.append((tr, rows, _present_rows(tr, rows)))
        self.video_size = video_size

    def draw(self, image: np.ndarray, t: float) -> np.ndarray:
        H, W = image.shape[:2]
        vw, vh = self.video_size
        scale = (W / vw if vw else 1.0, H / vh if vh else 1.0)
        matches = {}
        for tr, rows, present in self.items:
            key = id(tr.times)
            if key not in matches:
                matches[key] = _match(tr.times, t)
            i = matches[key]
            if i is None or not present[i]:
                continue
            image = _draw_person(image, tr.keypoints[i], rows[i], tr.skeleton, tr.person_id, scale)
        return image


def render_tracks_video(video_path: str | Path, tracks: Sequence[PoseTrack], boxes: Mapping[int, np.ndarray],
                        out_path: str | Path, *, start: float | None = None, end: float | None = None,
                        max_side: int = 960, progress: Callable[[int], None] | None = None,
                        workers: int = 2, chunk_seconds: float = 20.0) -> Path:
    """Write an H.264 MP4 of [start, end) of ``video_path`` with every tracked person drawn.

    tracks: one ``PoseTrack`` per person (``person_id`` 1, 2, ...), NaN where absent; boxes:
    ``person_id -> (T, 4)`` xyxy rows aligned with that track (NaN where absent; a missing entry is
    replaced by the keypoints' extent). Frames keep the video's timing; a frame with no track row
    within half a frame is written undrawn. ``progress(1)`` is called per written frame.
    Returns ``out_path`` (written under a temporary name and renamed at the end).
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    info = probe(video_path)
    drawer = _Drawer(list(tracks), boxes, (info.width, info.height))
    chunks = chunk_ranges(info, start, end, max(1, workers), chunk_seconds)
    tag = f"{os.getpid()}.{threading.get_ident()}"
    parts = [out_path.with_name(f".{out_path.stem}.seg{k}.{tag}.mp4") for k in range(len(chunks))]
    lock = threading.Lock()

    def tick() -> None:
        if progress:
            with lock:
                progress(1)

    def render(part: Path, t0: float, t1: float | None) -> int:
        reader = VideoReader(video_path, start=t0, end=t1, max_side=max_side, threaded=True)
        n = 0
        with VideoWriter(part, *reader.output_size, info.fps, preset="ultrafast") as writer:
            for frame in reader:
                writer.write(drawer.draw(frame.image, frame.time))
                n += 1
                tick()
        if n == 0:
            part.unlink(missing_ok=True)
        return n

    try:
        if len(chunks) == 1:
            counts = [render(parts[0], *chunks[0])]
        else:
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                counts = [j.result() for j in [pool.submit(render, p, a, b) for p, (a, b) in zip(parts, chunks)]]
        if sum(counts) == 0:
            raise ValueError(f"{video_path}: no frame decoded in the range [{start}, {end})")
        with atomic_path(out_path) as tmp:
            done = [p for p, n in zip(parts, counts) if n > 0 and p.exists()]
            if len(done) == 1:
                os.replace(done[0], tmp)
            else:
                concat_mp4(done, tmp)
    finally:
        for p in parts:
            p.unlink(missing_ok=True)
    return out_path


# ---------------------------------------------------------------- the contact sheet

def representative_row(track: PoseTrack, boxes: Mapping[int, np.ndarray] | None = None, *,
                       start: float | None = None, end: float | None = None) -> int | None:
    """Row of ``track`` to show the person: among rows in [start, end) where they are present, those
    with (nearly) the most joints visible, the one nearest the middle of their presence. None: absent."""
    rows = _box_rows(track, boxes)
    present = _present_rows(track, rows)
    t = track.times
    if start is not None:
        present &= t >= start - 1e-9
    if end is not None:
        present &= t < end - 1e-9
    idx = np.flatnonzero(present)
    if idx.size == 0:
        return None
    nvis = track.present()[idx].sum(axis=1)
    good = idx[nvis >= max(1, int(math.floor(0.9 * nvis.max())))] if nvis.max() > 0 else idx
    mid = 0.5 * (idx[0] + idx[-1])
    return int(good[np.argmin(np.abs(good - mid))])


def _grab(video_path: str | Path, t: float, tol: float) -> np.ndarray | None:
    """The full-size frame at time ``t`` (the decoded frame nearest within ``tol``)."""
    best, best_dt = None, np.inf
    for frame in VideoReader(video_path, start=max(0.0, t - tol), end=t + tol + 1e-6, threaded=False):
        dt = abs(frame.time - t)
        if dt < best_dt:
            best, best_dt = frame.image, dt
    return best


def _ascii(text: str) -> str:
    """cv2's Hershey fonts draw ASCII only: keep the meaning of common symbols, drop the rest."""
    text = (text.replace("·", "-").replace("°", " deg").replace("×", "x").replace("–", "-")
            .replace("—", "-").replace("µ", "u"))
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return "-"
        return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"
    return str(value)


def stat_lines(stats: Mapping[str, Any] | Sequence[str] | str | None) -> list[str]:
    """Text lines of a tile: a mapping gives "key value" per entry, a sequence its items, a str its lines."""
    if stats is None:
        return []
    if isinstance(stats, str):
        lines = stats.splitlines()
    elif isinstance(stats, Mapping):
        lines = [f"{k} {_fmt(v)}".strip() for k, v in stats.items()]
    else:
        lines = [str(s) for s in stats]
    return [_ascii(s) for s in lines]


def _fit_text(text: str, width: int, fs: float, th: int) -> tuple[str, float]:
    """Shrink the font (down to 60 %) then cut the text so it fits ``width`` pixels."""
    for f in (fs, fs * 0.85, fs * 0.72, fs * 0.6):
        if cv2.getTextSize(text, _FONT, f, th)[0][0] <= width:
            return text, f
    f = fs * 0.6
    while len(text) > 1 and cv2.getTextSize(text + "..", _FONT, f, th)[0][0] > width:
        text = text[:-1]
    return text + "..", f


def _crop(image: np.ndarray, box: np.ndarray, out_w: int, out_h: int, margin: float = 0.15) -> np.ndarray:
    """The box (+ margin) cut from ``image``, letterboxed into (out_h, out_w) on dark grey."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    x0, x1 = int(max(0, math.floor(x0 - mx))), int(min(W, math.ceil(x1 + mx)))
    y0, y1 = int(max(0, math.floor(y0 - my))), int(min(H, math.ceil(y1 + my)))
    canvas = np.full((out_h, out_w, 3), 40, dtype=np.uint8)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return canvas
    sub = image[y0:y1, x0:x1]
    s = min(out_w / sub.shape[1], out_h / sub.shape[0])
    w, h = max(1, int(round(sub.shape[1] * s))), max(1, int(round(sub.shape[0] * s)))
    sub = cv2.resize(sub, (w, h), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    ox, oy = (out_w - w) // 2, (out_h - h) // 2
    canvas[oy:oy + h, ox:ox + w] = sub
    return canvas


# Tile geometry (pixels); see ``sheet_size``.
TILE_WIDTH = 240
CROP_HEIGHT = 320
HEADER_HEIGHT = 44
LINE_HEIGHT = 24
GAP = 8


def sheet_size(n_tiles: int, n_lines: int, *, columns: int | None = None,
               tile_width: int = TILE_WIDTH) -> tuple[int, int, int]:
    """(width, height, columns) of a contact sheet with ``n_tiles`` tiles of ``n_lines`` text lines."""
    n = max(1, n_tiles)
    cols = max(1, min(n, columns if columns else min(5, math.ceil(math.sqrt(n * 1.5)))))
    rows = math.ceil(n / cols)
    crop_h = int(round(CROP_HEIGHT * tile_width / TILE_WIDTH))
    tile_h = HEADER_HEIGHT + crop_h + n_lines * LINE_HEIGHT + (GAP if n_lines else 0)
    return cols * tile_width + (cols + 1) * GAP, rows * tile_h + (rows + 1) * GAP, cols


def contact_sheet(video_path: str | Path, tracks: Sequence[PoseTrack], boxes: Mapping[int, np.ndarray],
                  out_path: str | Path, *, start: float | None = None, end: float | None = None,
                  stats: Mapping[int, Any] | None = None, columns: int | None = None,
                  tile_width: int = TILE_WIDTH, skip_absent: bool = False) -> Path:
    """Write a PNG grid with one tile per person ID (in ID order) and return ``out_path``.

    Each tile: a header band in the ID's colour reading "ID n", the person's crop at
    ``representative_row`` (skeleton drawn in the same colour), then the lines of ``stats[id]``
    (a mapping -> "key value" lines, e.g. ``{"present": "87 %", "activity": 12.3}``; or a list of
    strings). An ID not present in [start, end) gets a "not seen" tile, or none with
    ``skip_absent``. With no tile at all, the sheet is one small "nobody tracked" panel.
    Written under a temporary name and renamed.
    """
    out_path = Path(out_path)
    stats = stats or {}
    info = probe(video_path)
    tol = 0.5 / info.fps if info.fps else 0.02
    entries = []  # (track, row or None, box rows)
    for tr in sorted(tracks, key=lambda tr: int(tr.person_id)):
        rows = _box_rows(tr, boxes)
        k = representative_row(tr, boxes, start=start, end=end)
        if k is None and skip_absent:
            continue
        entries.append((tr, k, rows))
    n_lines = max([len(stat_lines(stats.get(int(tr.person_id)))) for tr, _, _ in entries] + [0])
    W, H, cols = sheet_size(len(entries), n_lines, columns=columns, tile_width=tile_width)
    crop_h = int(round(CROP_HEIGHT * tile_width / TILE_WIDTH))
    tile_h = HEADER_HEIGHT + crop_h + n_lines * LINE_HEIGHT + (GAP if n_lines else 0)
    sheet = np.full((H, W, 3), 24, dtype=np.uint8)

    def grab(item) -> np.ndarray | None:
        tr, k, _ = item
        return None if k is None else _grab(video_path, float(tr.times[k]), tol)

    with ThreadPoolExecutor(max_workers=2) as pool:
        images = list(pool.map(grab, entries))

    fs = max(0.45, 0.55 * tile_width / TILE_WIDTH)
    for n, ((tr, k, rows), image) in enumerate(zip(entries, images)):
        pid = int(tr.person_id)
        colour = id_colour(pid)
        x = GAP + (n % cols) * (tile_width + GAP)
        y = GAP + (n // cols) * (tile_h + GAP)
        tile = sheet[y:y + tile_h, x:x + tile_width]
        tile[:HEADER_HEIGHT] = colour
        head_fs = 1.0 * HEADER_HEIGHT / 44
        text, f = _fit_text(f"ID {pid}", tile_width - 16, head_fs, 2)
        cv2.putText(tile, text, (8, HEADER_HEIGHT - 12), _FONT, f, _text_on(colour), 2, cv2.LINE_AA)
        crop_area = tile[HEADER_HEIGHT:HEADER_HEIGHT + crop_h]
        if k is None or image is None:
            crop_area[:] = 60
            for j, msg in enumerate(("not seen", "in this range") if k is None else ("frame", "unreadable")):
                (tw, _), _ = cv2.getTextSize(msg, _FONT, fs, 1)
                cv2.putText(crop_area, msg, ((tile_width - tw) // 2, crop_h // 2 + j * LINE_HEIGHT), _FONT, fs,
                            (220, 220, 220), 1, cv2.LINE_AA)
        else:
            ih, iw = image.shape[:2]
            scale = (iw / info.width if info.width else 1.0, ih / info.height if info.height else 1.0)
            drawn = _draw_person(image.copy(), tr.keypoints[k], None, tr.skeleton, pid, scale, label=False)
            box = rows[k] * (scale[0], scale[1], scale[0], scale[1])
            if not np.isfinite(box).all():
                box = np.array([0, 0, iw, ih], dtype=np.float64)
            crop_area[:] = _crop(drawn, box, tile_width, crop_h)
            cv2.rectangle(crop_area, (0, 0), (tile_width - 1, crop_h - 1), colour, 2)
        for j, line in enumerate(stat_lines(stats.get(pid))):
            ly = HEADER_HEIGHT + crop_h + GAP // 2 + (j + 1) * LINE_HEIGHT - 7
            text, f = _fit_text(line, tile_width - 12, fs, 1)
            cv2.putText(tile, text, (6, ly), _FONT, f, (235, 235, 235), 1, cv2.LINE_AA)
    if not entries:
        put_text(sheet, "nobody tracked", (GAP + 8, H // 2), font_scale=fs, color=(220, 220, 220))

    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding of the contact sheet failed")
    with atomic_path(out_path) as tmp:
        tmp.write_bytes(png.tobytes())
    return out_path
