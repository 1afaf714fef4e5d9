"""Video models applied to analysed videos: `VideoRecognizer`, checkpoint routing, `analyze --model/--checkpoint`.

Fast part: generated clips and untrained checkpoints (the inputs must be exactly the training dataset's).
Slow part (real video, ../shared/videos): a tiny checkpoint of every video model trained on the generated
dataset in seconds, inference on a real clip, and `sportlens analyze` end to end.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sportlens.config import AnalyzeSettings, RecognitionSettings
from sportlens.data.synthetic_video import SyntheticVideoSpec, render_clip
from sportlens.data.video_datasets import VideoClipDataset, VideoSample
from sportlens.engine.checkpoint import save_checkpoint
from sportlens.errors import InputError
from sportlens.models import create_model
from sportlens.recognize import SHIPPED
from sportlens.recognize.video_model import (ATTENTION_PNG, GRADCAM_PNG, VideoRecognizer, resolve_recognition,
                                             write_figures)
from sportlens.types import PoseTrack

from _media import gradient_frames, make_video

T, S = 4, 32
CLASSES = ["golf_swing", "squat", "jumping_jacks"]
SMALL: dict[str, dict] = {
    "sportnet": dict(backbone="resnet18", width=8, hidden=16),
    "c3d_attn": dict(width=8),
    "cnn_lstm": dict(backbone="resnet18", width=8, hidden=16, attn_dim=8),
    "two_stream": dict(width=8, flow_stack=2),
    "hicnn_psta": dict(width=16, heatmap_size=8),
}
WITH_ATTENTION = {"cnn_lstm", "two_stream", "hicnn_psta"}


pytestmark = pytest.mark.usefixtures("one_thread")


def untrained_checkpoint(path: Path, name: str) -> Path:
    """A video checkpoint as `sportlens train` writes it, without the training (inputs, not accuracy)."""
    torch.manual_seed(0)
    kw = {"num_classes": len(CLASSES), "num_frames": T, "image_size": S, **SMALL[name]}
    model = create_model(name, **kw)
    spec = {"kind": "video", "inputs": list(model.inputs), "num_frames": T, "image_size": S,
            "flow_stack": getattr(model, "flow_stack", 5), "dataset": "synthetic", "skeleton": model.skeleton,
            "in_channels": model.in_channels}
    return save_checkpoint(path, model_name=name, model_kwargs=kw, model=model, classes=CLASSES, data_spec=spec,
                           epoch=0, metrics={}, config={})


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A generated clip written as MP4, and its ground-truth pose as a PoseTrack (Penn-13, NaN = missing)."""
    s = render_clip(SyntheticVideoSpec(num_classes=1, clips_per_class=1, frames=(12, 12), size=(96, 96)), 0, 0)
    path = make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", s.frames, fps=30)
    kp = np.where(s.visibility[..., None], s.keypoints, np.nan)
    track = PoseTrack(kp, s.visibility.astype(float), np.arange(len(kp)) / 30.0, "penn13")
    return path, track


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    return {name: untrained_checkpoint(d / f"{name}.pt", name) for name in ("sportnet", "two_stream", "cnn_lstm")}


# ---------------------------------------------------------------- fast: routing and inputs
def test_checkpoints_are_routed_by_kind_and_checked_against_the_model_name(untrained):
    s = RecognitionSettings()
    video = resolve_recognition(s, untrained["sportnet"], "sportnet")
    assert video.video_checkpoint == str(untrained["sportnet"]) and video.video_model == "sportnet"
    assert video.checkpoint == ""  # the skeleton timeline keeps the shipped model
    skeleton = resolve_recognition(s, SHIPPED, "")
    assert skeleton.checkpoint == str(SHIPPED) and skeleton.video_checkpoint == ""
    assert resolve_recognition(s, None, "") == s
    with pytest.raises(InputError, match="holds the skeleton model 'tcn', not 'sportnet'"):
        resolve_recognition(s, SHIPPED, "sportnet")
    with pytest.raises(InputError, match="holds the video model 'sportnet', not 'c3d_attn'"):
        resolve_recognition(s, untrained["sportnet"], "c3d_attn")
    with pytest.raises(InputError, match="unknown model 'resnet'"):
        resolve_recognition(s, untrained["sportnet"], "resnet")
    with pytest.raises(InputError, match="needs a trained checkpoint"):
        resolve_recognition(s, None, "sportnet")
    with pytest.raises(InputError, match="checkpoint not found"):
        resolve_recognition(s, "/no/such/best.pt", "sportnet")


def test_recognizer_refuses_a_skeleton_checkpoint(untrained):
    with pytest.raises(InputError, match="not a video model"):
        VideoRecognizer(SHIPPED)
    with pytest.raises(InputError, match="not 'two_stream'"):
        VideoRecognizer(untrained["sportnet"], "two_stream")


@pytest.mark.parametrize("name", ["sportnet", "two_stream"])
def test_inputs_are_exactly_the_training_datasets(clip, untrained, name):
    path, track = clip
    rec = VideoRecognizer(untrained[name], name)
    batch, rows = rec.inputs(path, track)
    ref_sample = VideoSample(name="clip", label=CLASSES[0], split="test", video=path, keypoints=track.keypoints,
                             visibility=track.present(), skeleton="penn13")
    ref = VideoClipDataset([ref_sample], CLASSES, num_frames=T, image_size=S, train=False, inputs=rec.model.inputs,
                           flow_stack=rec.flow_stack)[0]
    assert set(batch) == set(rec.model.inputs)
    for k in rec.model.inputs:
        assert batch[k].shape == (1, *ref[k].shape)
        torch.testing.assert_close(batch[k][0], ref[k], rtol=0, atol=0)
    assert rows.tolist() == [1, 4, 7, 10]  # segment centres of 12 frames, T = 4


def test_predict_gives_probabilities_maps_and_images(clip, untrained, tmp_path):
    path, track = clip
    pred = VideoRecognizer(untrained["cnn_lstm"]).predict(path, track)
    assert pred.probs.shape == (3,) and np.isfinite(pred.probs).all() and pred.probs.sum() == pytest.approx(1.0)
    assert pred.label in CLASSES and pred.frame_times.shape == (T,)
    assert pred.attention is not None and pred.attention.sum() == pytest.approx(1.0, abs=1e-5)
    assert pred.crops.shape == (len(pred.explained), S, S, 3) and pred.crops.dtype == np.uint8
    assert pred.cams.shape == (len(pred.explained), S, S) and 0 <= pred.cams.min() and pred.cams.max() <= 1
    paths = write_figures(pred, tmp_path)
    assert {p.name for p in paths} == {GRADCAM_PNG, ATTENTION_PNG} and all(p.stat().st_size > 1000 for p in paths)


def test_a_clip_shorter_than_t_repeats_its_frames(clip, untrained, tmp_path):
    path, track = clip
    short = track.slice(0, 2)
    pred = VideoRecognizer(untrained["sportnet"]).predict(path, short, end=2 / 30 - 1e-3)
    assert pred.frame_times.tolist() == [0.0, 0.0, 1 / 30, 1 / 30]  # 0,0,1,1 as the training sampler does
    assert len(pred.explained) == 2  # each picture once
    assert np.isclose(pred.probs.sum(), 1.0)


def test_no_person_is_a_clear_error(clip, untrained):
    path, track = clip
    nobody = track.with_data(np.full_like(track.keypoints, np.nan), np.zeros_like(track.scores))
    with pytest.raises(InputError, match="no person detected"):
        VideoRecognizer(untrained["sportnet"]).predict(path, nobody)


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("v") / "nobody.mp4", gradient_frames(8), fps=10)


@pytest.mark.parametrize("args, message", [
    (["--model", "sportnet", "--checkpoint", str(SHIPPED)], "holds the skeleton model 'tcn', not 'sportnet'"),
    (["--model", "sportnet", "--checkpoint", "/no/such/best.pt"], "checkpoint not found"),
])  # the other refusals (unknown name, --model alone) are the routing test's: one subprocess each costs ~4 s
def test_cli_bad_model_or_checkpoint_fails_cleanly(tiny_video, tmp_path, args, message):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(tiny_video), "--out", str(out), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert message in " ".join(done.stderr.split()) and "Traceback" not in done.stderr
    assert not out.exists()  # failed before any work


def test_analyze_without_a_person_skips_the_video_model_with_a_warning(tiny_video, untrained):
    from sportlens.api import analyze_video

    s = AnalyzeSettings()
    s = replace(s, pose=replace(s.pose, workers=1),
                recognition=replace(s.recognition, enabled=False, video_checkpoint=str(untrained["sportnet"])))
    a = analyze_video(tiny_video, None, s)
    assert a.video_prediction is None and any("Video-model recognition skipped" in w for w in a.warnings)
    assert a.summary()["video_prediction"] is None


# ---------------------------------------------------------------- slow: trained checkpoints on a real clip
TINY_TRAIN = ["data.synthetic_classes=3", "data.synthetic_clips_per_class=4", "data.synthetic_size=64",
              f"data.num_frames={T}", f"data.image_size={S}", "data.batch_size=8", "data.flow_stack=2", "fit.epochs=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """best.pt of every video model trained for one epoch on the generated dataset (seconds each)."""
    from sportlens.engine.config import load_config
    from sportlens.engine.video_experiment import VideoTrainConfig, run_video_training

    out = tmp_path_factory.mktemp("runs")
    runs = {}
    for name, kw in SMALL.items():
        kw_yaml = "{" + ", ".join(f"{k}: {v}" for k, v in kw.items()) + "}"
        cfg = load_config(None, [*TINY_TRAIN, f"model={name}", f"model_kwargs={kw_yaml}", f"out_dir={out}",
                                 f"name={name}"], VideoTrainConfig())
        runs[name] = run_video_training(cfg) / "best.pt"
    return runs


@pytest.fixture(scope="module")
def golf_track(golf_video):
    """The clean pose track of the first second of the real golf clip (BlazePose-33)."""
    from sportlens.api import analyze_video

    s = AnalyzeSettings(end=1.0)
    s = replace(s, pose=replace(s.pose, workers=1), recognition=replace(s.recognition, enabled=False))
    return analyze_video(golf_video, None, s).clean


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SMALL))
def test_every_trained_video_model_runs_on_a_real_clip(trained, golf_video, golf_track, name, tmp_path):
    assert golf_track.skeleton == "blazepose33" and golf_track.detected_frames().mean() > 0.9
    rec = VideoRecognizer(trained[name], name)
    pred = rec.predict(golf_video, golf_track, end=1.0)
    assert np.isfinite(pred.probs).all() and pred.probs.sum() == pytest.approx(1.0)
    assert pred.classes == rec.classes and len(pred.classes) == 3
    assert (pred.attention is not None) == (name in WITH_ATTENTION)
    assert np.isfinite(pred.cams).all() and pred.cams.shape == (4, S, S)
    assert (np.diff(pred.frame_times) > 0).all() and pred.frame_times[-1] < 1.0
    names = {p.name for p in write_figures(pred, tmp_path)}
    assert names == ({GRADCAM_PNG, ATTENTION_PNG} if name in WITH_ATTENTION else {GRADCAM_PNG})
    assert all((tmp_path / n).read_bytes().startswith(b"\x89PNG") for n in names)


@pytest.mark.slow
def test_cli_analyze_with_a_video_model_end_to_end(trained, golf_video, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "sportlens", "analyze", str(golf_video), "--model", "sportnet",
                           "--checkpoint", str(trained["sportnet"]), "--out", str(out), "--end", "1", "--no-video",
                           "--workers", "1", "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    summary = json.loads(done.stdout)
    pred = summary["video_prediction"]
    assert pred["model"] == "sportnet (best.pt)" and pred["label"] in pred["probs"]
    assert sum(pred["probs"].values()) == pytest.approx(1.0, abs=1e-3)
    assert pred["images"] == [GRADCAM_PNG] and pred["attention"] is None
    assert summary["files"][GRADCAM_PNG] == GRADCAM_PNG and (out / GRADCAM_PNG).stat().st_size > 1000
    assert summary["actions"] is not None  # the skeleton timeline still runs, with the shipped model
    html = (out / "report.html").read_text()
    assert "What the model looked at" in html and GRADCAM_PNG in html and "http://" not in html
