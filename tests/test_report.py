"""Tests of sportlens.report on a synthetic stick figure doing knee bends (fast, no video files)."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest

from sportlens.report import (
    NO_PERSON_MESSAGE,
    draw_angle_labels,
    draw_angle_strip,
    draw_skeleton,
    key_frame_times,
    plot_angle_curves,
    plot_com_trajectory,
    plot_detection_timeline,
    plot_rom_bars,
    render_html,
    render_overlay_frame,
)
from sportlens.skeletons import get_skeleton
from sportlens.types import Analysis, AngleTable, PoseTrack, VideoInfo

W, H, FPS, T = 1280, 720, 30.0, 60
PNG_MAGIC = b"\x89PNG"


def _flexion(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """180 - interior angle at b (0 = straight), degrees, per frame."""
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))


def make_analysis(video_path: str = "/videos/squat_side.mp4", *, person: bool = True) -> Analysis:
    """A side-on stick figure (coco17) doing two knee bends in 2 s, with its AngleTable and metrics."""
    skel = get_skeleton("coco17")
    times = np.arange(T) / FPS
    kp = np.full((T, skel.num_joints, 2), np.nan)
    scores = np.zeros((T, skel.num_joints))
    names = ("left_knee_flexion", "right_knee_flexion", "left_hip_flexion", "right_hip_flexion",
             "left_elbow_flexion", "right_elbow_flexion", "trunk_lean", "left_thigh_angle")
    values = np.full((T, len(names)), np.nan)
    com = np.full((T, 2), np.nan)
    if person:
        theta = 10 + 45 * (1 - np.cos(2 * np.pi * times))  # knee bend, 10..100 deg, 1 s period
        for side, k, dx in (("left", 1.0, 0.0), ("right", 0.92, 12.0)):
            th = np.radians(theta * k)
            ankle = np.stack([np.full(T, 640 + dx), np.full(T, 620.0)], -1)
            knee = ankle + 130 * np.stack([np.sin(th / 2), -np.cos(th / 2)], -1)
            hip = knee + 130 * np.stack([-np.sin(th / 2), -np.cos(th / 2)], -1)
            lean = np.radians(0.3 * theta)
            shoulder = hip + 170 * np.stack([np.sin(lean), -np.cos(lean)], -1)
            elbow = shoulder + np.stack([np.full(T, 70.0), np.full(T, 40.0)], -1)
            wrist = elbow + np.stack([np.full(T, 80.0), np.full(T, -10.0)], -1)
            for j, p in (("ankle", ankle), ("knee", knee), ("hip", hip), ("shoulder", shoulder), ("elbow", elbow),
                         ("wrist", wrist)):
                kp[:, skel.index(f"{side}_{j}")] = p
            values[:, names.index(f"{side}_knee_flexion")] = _flexion(hip, knee, ankle)
            values[:, names.index(f"{side}_hip_flexion")] = _flexion(shoulder, hip, knee)
            values[:, names.index(f"{side}_elbow_flexion")] = _flexion(shoulder, elbow, wrist)
        mid_sh = (kp[:, skel.index("left_shoulder")] + kp[:, skel.index("right_shoulder")]) / 2
        mid_hip = (kp[:, skel.index("left_hip")] + kp[:, skel.index("right_hip")]) / 2
        d = mid_sh - mid_hip
        values[:, names.index("trunk_lean")] = np.degrees(np.arctan2(np.abs(d[:, 0]), -d[:, 1]))
        th_vec = kp[:, skel.index("left_knee")] - kp[:, skel.index("left_hip")]
        values[:, names.index("left_thigh_angle")] = np.degrees(np.arctan2(th_vec[:, 1], th_vec[:, 0]))
        nose = mid_sh + np.array([20.0, -60.0])
        for j, off in (("nose", (0, 0)), ("left_eye", (-6, -8)), ("right_eye", (6, -8)), ("left_ear", (-14, -2)),
                       ("right_ear", (14, -2))):
            kp[:, skel.index(j)] = nose + np.array(off, dtype=float)
        scores[:] = 0.9
        kp[20:23, skel.index("right_wrist")] = np.nan  # a short occlusion
        scores[20:23, skel.index("right_wrist")] = 0.0
        com = (mid_sh + 2 * mid_hip) / 3
    velocity = np.gradient(values, times, axis=0)
    acceleration = np.gradient(velocity, times, axis=0)
    angles = AngleTable(times=times, names=names, values=values, velocity=velocity, acceleration=acceleration)
    track = PoseTrack(keypoints=kp, scores=scores, times=times, skeleton="coco17")
    rom: dict = {}
    peak: dict = {}
    for i, n in enumerate(names):
        col = values[:, i]
        if np.isfinite(col).any():
            rom[n] = {"min": float(np.nanmin(col)), "max": float(np.nanmax(col)),
                      "rom": float(np.nanmax(col) - np.nanmin(col)), "p05": float(np.nanpercentile(col, 5)),
                      "p95": float(np.nanpercentile(col, 95))}
            peak[n] = float(np.nanmax(np.abs(velocity[:, i])))
        else:
            rom[n] = {k: None for k in ("min", "max", "rom", "p05", "p95")}
            peak[n] = None
    if person:  # values the test looks for in the page
        rom["left_knee_flexion"] = {"min": 10.0, "max": 111.3, "rom": 101.3, "p05": 12.0, "p95": 108.0}
        peak["left_knee_flexion"] = 345.6
    detected = int(track.detected_frames().sum())
    metrics = {
        "detection": {"frames": T, "frames_with_person": detected, "rate": detected / T},
        "rom": rom,
        "peak_velocity": peak,
        "symmetry": {"knee_flexion": 8.2 if person else None, "hip_flexion": None},
    }
    settings = {"start": None, "end": None,
                "pose": {"backend": "blazepose", "workers": 2},
                "cleaning": {"min_score": 0.5, "max_gap_s": 0.25, "hampel_window": 7, "hampel_sigmas": 3.0,
                             "filter": "butterworth", "cutoff_hz": 6.0, "order": 4, "repair_swaps": True},
                "output": {"video": True}}
    return Analysis(
        video=VideoInfo(path=video_path, width=W, height=H, fps=FPS, frame_count=T, duration=T / FPS, codec="h264"),
        raw=track, clean=track, angles=angles, metrics=metrics, com=com, settings=settings,
        warnings=["Right wrist hidden for 0.1 s (filled)."] if person else [],
        files={"overlay": "/out/overlay.mp4"}, timings={"pose": 1.23},
    )


def _frames(analysis: Analysis, n: int = 3) -> list[tuple[float, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [(t, rng.integers(60, 120, size=(H, W, 3), dtype=np.uint8)) for t in key_frame_times(analysis, n)]


# ------------------------------------------------------------------------------------------ html
def test_render_html_sections_values_and_self_contained():
    a = make_analysis()
    frames = _frames(a)
    before = [f.copy() for _, f in frames]
    page = render_html(a, frames)
    assert all(np.array_equal(f, b) for (_, f), b in zip(frames, before))  # drawn on copies
    assert page.startswith("<!DOCTYPE html>")
    for section in ("Key numbers", "Joint angles over time", "Range of motion", "Key frames",
                    "How to read this report", "Tracking quality", "Please note"):
        assert section in page, section
    # Values put into metrics come out in the ROM table / cards.
    assert "101.3°" in page and "111.3°" in page and "346°/s" in page and "8.2 %" in page
    assert "Right wrist hidden" in page
    assert "squat_side.mp4" in page
    assert "Butterworth" in page and "6.0 Hz" in page
    # Self-contained: every src/href is inline data (or a fragment); nothing fetched from anywhere.
    assert "http://" not in page and "https://" not in page
    for url in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page):
        assert url.startswith("data:") or url.startswith("#"), url
    assert page.count('src="data:image/png;base64,') >= 3
    assert page.count('src="data:image/jpeg;base64,') == 3
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert NO_PERSON_MESSAGE not in page


def test_render_html_escapes_untrusted_text():
    a = make_analysis("/videos/<script>alert(1)&x.mp4")
    a.warnings.append('<img src=x onerror="alert(2)">')
    page = render_html(a, [])
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&amp;x.mp4" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page


def test_render_html_without_person():
    a = make_analysis(person=False)
    frames = [(0.5, np.zeros((H, W, 3), np.uint8))]
    page = render_html(a, frames)
    assert NO_PERSON_MESSAGE in page
    assert "Joint angles over time" not in page and "Key numbers" not in page
    assert "How to read this report" in page
    assert "http://" not in page and "https://" not in page
    assert key_frame_times(a, 4)  # still suggests frames to show


def test_render_html_with_sparse_metrics():
    """Missing metrics keys are computed from the angle table, not a crash."""
    a = make_analysis()
    a.metrics = {}
    a.settings = {}
    page = render_html(a, [])
    assert "Range of motion" in page and "Left knee flexion" not in page  # bilateral rows use base names
    assert "Knee flexion" in page


def test_key_frame_times_cover_extremes():
    a = make_analysis()
    ts = key_frame_times(a, 4)
    assert len(ts) == 4 and ts == sorted(ts)
    knee = a.angles.column("left_knee_flexion")
    t_max = float(a.angles.times[np.nanargmax(knee)])
    assert min(abs(t - t_max) for t in ts) < 1e-9


# ------------------------------------------------------------------------------------------ draw
def test_draw_skeleton_draws_bones_only_where_expected():
    skel = get_skeleton("coco17")
    a = make_analysis()
    kp, sc = a.clean.keypoints[0], a.clean.scores[0]
    frame = np.zeros((H, W, 3), np.uint8)
    out = draw_skeleton(frame, kp, sc, "coco17")
    assert out is frame  # in place
    mid = (kp[skel.index("left_hip")] + kp[skel.index("left_knee")]) / 2
    assert frame[int(round(mid[1])), int(round(mid[0]))].any()
    assert not frame[10, 10].any() and not frame[H - 10, W - 10].any()


def test_draw_skeleton_skips_missing_and_low_score_joints():
    skel = get_skeleton("coco17")
    kp = np.full((skel.num_joints, 2), np.nan)
    kp[skel.index("left_hip")] = (100, 100)
    kp[skel.index("left_knee")] = (100, 300)
    sc = np.ones(skel.num_joints)
    frame = draw_skeleton(np.zeros((400, 400, 3), np.uint8), kp, sc, "coco17")
    assert frame[200, 100].any()
    sc[skel.index("left_knee")] = 0.1
    frame = draw_skeleton(np.zeros((400, 400, 3), np.uint8), kp, sc, "coco17", min_score=0.5)
    assert not frame[200, 100].any()


def test_draw_skeleton_scale_and_non_contiguous_frame():
    skel = get_skeleton("coco17")
    kp = np.full((skel.num_joints, 2), np.nan)
    kp[skel.index("left_hip")] = (200, 200)
    kp[skel.index("left_knee")] = (200, 600)
    frame = np.zeros((400, 400, 3), np.uint8)
    draw_skeleton(frame, kp, None, "coco17", scale=0.5)
    assert frame[200, 100].any() and not frame[200, 300].any()
    view = np.zeros((400, 800, 3), np.uint8)[:, ::2]  # not contiguous: a drawn copy is returned
    out = draw_skeleton(view, kp, None, "coco17", scale=0.5)
    assert out[200, 100].any()


def test_draw_angle_labels_writes_near_joint():
    skel = get_skeleton("coco17")
    a = make_analysis()
    kp = a.clean.keypoints[15]
    frame = np.zeros((H, W, 3), np.uint8)
    draw_angle_labels(frame, kp, "coco17", {"left_knee_flexion": 92.0, "trunk_lean": np.nan, "unknown": 3.0})
    x, y = kp[skel.index("left_knee")].astype(int)
    assert frame[y - 40:y + 40, max(0, x - 150):x + 150].any()
    assert not frame[:100].any()


def test_draw_angle_strip_is_fast_and_draws_at_bottom():
    a = make_analysis()
    times = np.arange(600) / 30.0
    series = {f"s{i}": 90 + 40 * np.sin(times * (i + 1)) for i in range(4)}
    series["s1"][100:120] = np.nan
    frame = np.full((720, 1280, 3), 200, np.uint8)
    draw_angle_strip(frame, times, series, t_now=5.0)
    assert (frame[-60] != 200).any()  # the panel
    assert (frame[50] == 200).all()  # the top of the frame untouched
    start = time.perf_counter()
    for k in range(50):
        draw_angle_strip(frame, times, series, t_now=0.1 * k)
    per_call = (time.perf_counter() - start) / 50
    assert per_call < 0.020, f"{per_call * 1e3:.1f} ms per call"
    del a


def test_render_overlay_frame_downscaled():
    a = make_analysis()
    skel = get_skeleton("coco17")
    frame = np.zeros((H // 2, W // 2, 3), np.uint8)
    out = render_overlay_frame(frame, 10, a)
    kp = a.clean.keypoints[10]
    mid = (kp[skel.index("left_shoulder")] + kp[skel.index("left_hip")]) / 4  # half size
    assert out[int(round(mid[1])), int(round(mid[0]))].any()
    assert out[-10].any()  # angle strip along the bottom
    # Out-of-range index and a no-person analysis leave the frame alone.
    assert not render_overlay_frame(np.zeros((90, 160, 3), np.uint8), 999, a).any()
    assert not render_overlay_frame(np.zeros((90, 160, 3), np.uint8), 5, make_analysis(person=False)).any()


# ----------------------------------------------------------------------------------------- plots
@pytest.mark.parametrize("person", [True, False])
def test_plots_return_png(person):
    a = make_analysis(person=person)
    pngs = [
        plot_angle_curves(a.angles),
        plot_rom_bars(a.metrics["rom"]),
        plot_detection_timeline(a.raw, min_score=0.5),
        plot_com_trajectory(a.com, a.clean.times, width=W, height=H),
        plot_com_trajectory(None, a.clean.times),
        plot_rom_bars({}),
    ]
    for png in pngs:
        assert isinstance(png, bytes) and png.startswith(PNG_MAGIC)


def test_degenerate_inputs_do_not_crash():
    """Zero frames, an empty angle table, a missing com: the page still renders."""
    skel = get_skeleton("coco17")
    empty = PoseTrack(keypoints=np.zeros((0, skel.num_joints, 2)), scores=np.zeros((0, skel.num_joints)),
                      times=np.zeros(0), skeleton="coco17")
    a = Analysis(video=VideoInfo(path="x.mp4", width=0, height=0, fps=0.0, frame_count=0, duration=0.0),
                 raw=empty, clean=empty,
                 angles=AngleTable(times=np.zeros(0), names=(), values=np.zeros((0, 0)),
                                   velocity=np.zeros((0, 0)), acceleration=np.zeros((0, 0))))
    page = render_html(a, [])
    assert NO_PERSON_MESSAGE in page
    assert key_frame_times(a, 3) == []
    assert plot_detection_timeline(empty).startswith(PNG_MAGIC)
    assert plot_angle_curves(a.angles).startswith(PNG_MAGIC)

    b = make_analysis()
    b.angles = AngleTable(times=b.clean.times, names=(), values=np.zeros((T, 0)), velocity=np.zeros((T, 0)),
                          acceleration=np.zeros((T, 0)))
    b.com = None
    b.metrics = {"detection": {"frames": T}}
    page = render_html(b, [(0.3, np.zeros((H, W, 3), np.uint8))])
    assert NO_PERSON_MESSAGE not in page and "Joint angles over time" in page
    assert render_overlay_frame(np.zeros((H, W, 3), np.uint8), 3, b).any()


def test_render_html_action_timeline():
    from sportlens.types import ActionSegment, ActionTimeline

    analysis = make_analysis()
    T = analysis.clean.num_frames
    segs = [ActionSegment(0.0, 1.0, "squat", 0.93, [("squat", 0.93), ("situp", 0.04), ("pushup", 0.01)]),
            ActionSegment(1.0, 2.0, "unknown", 0.41, [("bowl", 0.41), ("squat", 0.3), ("situp", 0.1)])]
    analysis.actions = ActionTimeline(("squat", "situp", "pushup", "bowl"), analysis.clean.times,
                                      np.full((T, 4), 0.25), segs, model="tcn (test.pt)")
    html = render_html(analysis)
    assert "Recognised movements" in html and "tcn (test.pt)" in html
    assert "93%" in html and "unknown" in html and html.index("squat") < html.index("unknown")
    assert analysis.summary()["actions"]["segments"][0]["label"] == "squat"
