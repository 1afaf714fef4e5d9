"""Interpretability: Grad-CAM, temporal attention, frame choice and the explain images (fast, CPU, tiny models)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn

from sportlens.explain import (choose_frames, default_target_layer, grad_cam, has_temporal_attention,
                               recording_attention, temporal_attention)
from sportlens.models import create_model
from sportlens.models.psta import PSTAttention
from sportlens.report.explain_plots import overlay_cam, plot_attention, plot_gradcam
from sportlens.report.html import _video_model
from sportlens.types import VideoPrediction

from _tiny_video import SMALL, S, T

LAYERS = {"sportnet": "backbone.layer4.1", "c3d_attn": "features.6", "cnn_lstm": "backbone.layer4.1",
          "two_stream": "rgb.backbone.layer4.1", "hicnn_psta": "backbone.layers.4"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("one_thread")


def make(name: str, **kw) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, num_classes=3, num_frames=T, image_size=S, **{**SMALL[name], **kw})


def inputs_for(model, b: int = 2, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"rgb": (b, T, 3, S, S), "pose": (b, T, model.num_joints, model.in_channels),
              "flow": (b, T, 2 * getattr(model, "flow_stack", 1), S, S)}
    return {k: torch.randn(*shapes[k], generator=g) for k in model.inputs}


# ---------------------------------------------------------------- Grad-CAM on a model whose answer we know
class RedGreen(nn.Module):
    """Per-frame 1x1 conv: channel 0 sees red, channel 1 green; class k = mean of channel k. So only the
    red region can raise class 0, only the green region class 1."""

    inputs = ("rgb",)

    def __init__(self, named: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0] = 1.0
            self.conv.weight[1, 1] = 1.0
        if named:
            self.gradcam_layer = "conv"

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        b, t = rgb.shape[:2]
        f = torch.relu(self.conv(rgb.flatten(0, 1)))  # (B*T, 2, S, S)
        return f.mean(dim=(2, 3)).reshape(b, t, 2).mean(dim=1)  # (B, 2)


def red_green_clip() -> torch.Tensor:
    x = torch.zeros(1, 2, 3, S, S)  # (B, T, 3, S, S)
    x[:, :, 0, 2:10, 3:11] = 1.0  # red square, top left
    x[:, :, 1, 20:30, 18:28] = 1.0  # green square, bottom right
    return x


@pytest.mark.parametrize("named", [True, False])
def test_gradcam_peaks_where_the_class_evidence_is(named):
    model = RedGreen(named)
    assert default_target_layer(model)[0] == "conv"  # by attribute, or found as the last conv
    x = red_green_clip()
    for cls, (rows, cols) in {0: (slice(2, 10), slice(3, 11)), 1: (slice(20, 30), slice(18, 28))}.items():
        r = grad_cam(model, {"rgb": x}, class_index=cls)
        maps = r.maps[0]  # (T, S, S)
        assert maps.shape == (2, S, S) and r.layer == "conv" and r.class_index.tolist() == [cls]
        inside = maps[:, rows, cols]
        outside = maps.copy()
        outside[:, rows, cols] = 0
        assert inside.min() == pytest.approx(1.0) and outside.max() == 0.0
        peak = np.unravel_index(np.argmax(maps[0]), maps[0].shape)
        assert rows.start <= peak[0] < rows.stop and cols.start <= peak[1] < cols.stop


def test_gradcam_explains_the_predicted_class_by_default_and_checks_the_class_index():
    model = RedGreen()
    x = red_green_clip()
    x[:, :, 1] *= 3  # green dominates: class 1 is predicted
    assert grad_cam(model, {"rgb": x}).class_index.tolist() == [1]
    with pytest.raises(ValueError, match="class_index"):
        grad_cam(model, {"rgb": x}, class_index=5)


@pytest.mark.parametrize("name", list(SMALL))
def test_gradcam_maps_for_every_video_model(name):
    model = make(name)
    model.train()
    x = inputs_for(model)
    r = grad_cam(model, x, class_index=[0, 2])
    assert r.layer == LAYERS[name]
    assert r.maps.shape == (2, T, S, S) and r.maps.dtype == np.float32
    assert np.isfinite(r.maps).all() and r.maps.min() >= 0.0 and r.maps.max() <= 1.0
    assert r.logits.shape == (2, 3) and r.class_index.tolist() == [0, 2]
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # no parameter gradient was touched
    per_frame = grad_cam(model, x, per_frame=True).maps
    peaks = per_frame.reshape(2, T, -1).max(axis=2)
    assert np.all((peaks == 0) | np.isclose(peaks, 1.0))


def test_gradcam_c3d_upsamples_its_coarse_time_axis():
    model = make("c3d_attn")
    x = inputs_for(model, b=1)
    x["rgb"] = x["rgb"].repeat(1, 2, 1, 1, 1)  # T = 8 frames -> the last block sees T' = 1
    assert grad_cam(model, x).maps.shape == (1, 2 * T, S, S)


def test_gradcam_works_under_inference_mode_and_with_frozen_weights():
    model = make("sportnet")
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.inference_mode():
        x = inputs_for(model, b=1)
        r = grad_cam(model, x)
    assert r.maps.shape == (1, T, S, S)


# ---------------------------------------------------------------- temporal attention
@pytest.mark.parametrize("name", ["cnn_lstm", "two_stream", "hicnn_psta"])
def test_attention_is_a_distribution_over_the_frames(name):
    model = make(name)
    assert has_temporal_attention(model)
    w = temporal_attention(model, inputs_for(model))
    assert w.shape == (2, T) and (w >= 0).all()
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)


def test_cnn_lstm_attention_is_its_own_alpha():
    model = make("cnn_lstm").eval()
    x = inputs_for(model)
    w = temporal_attention(model, x)
    np.testing.assert_allclose(w, model.last_attention.numpy(), atol=1e-6)


def test_two_stream_attention_is_what_the_rgb_frames_receive():
    model = make("two_stream").eval()
    w = temporal_attention(model, inputs_for(model))
    a = model.rgb.temporal[-1].attn.last_attention  # (B, heads, T, T) sigmoid gates
    received = a.mean(dim=(1, 2))  # (B, T): mean over heads and query frames
    np.testing.assert_allclose(w, (received / received.sum(dim=1, keepdim=True)).numpy(), atol=1e-6)


@pytest.mark.parametrize("stride", [1, 3])
def test_psta_attention_sums_to_one_and_recording_changes_nothing(stride):
    torch.manual_seed(0)
    model = create_model("psta", num_classes=3, num_frames=8, dim=16, depth=2, stem_stride=stride).eval()
    x = torch.randn(2, 8, 13, 5)
    with torch.no_grad():
        plain = model(x)
    w = temporal_attention(model, {"x": x})
    assert w.shape == (2, 8)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    with recording_attention(model), torch.no_grad():
        recorded = model(x)
        att = model.blocks[-1].attn.last_attention  # (B, V, heads, T', T')
    torch.testing.assert_close(recorded, plain)  # the outputs do not depend on the recording
    assert att.shape == (2, 13, 2, -(-8 // stride), -(-8 // stride))
    torch.testing.assert_close(att.sum(-1), torch.ones(att.shape[:-1]))
    attn = [m for m in model.modules() if isinstance(m, PSTAttention)]
    assert all(not m.keep_attention and m.last_attention is None for m in attn)  # switched off again
    assert "keep_attention" not in str(model.state_dict().keys())


def test_psta_time_weights_are_the_ones_the_attention_uses():
    torch.manual_seed(0)
    att = PSTAttention(8, heads=2).eval()
    x = torch.randn(1, 5, 3, 8)  # (B, T, N, D)
    att.keep_attention = True
    with torch.no_grad():
        att(x)
        q, k, v = att.qkv(x).chunk(3, dim=-1)
        vt = v[..., :4].permute(0, 2, 1, 3).reshape(3, 5, 2, 2).transpose(1, 2)  # (N, heads, T, d)
        qt, kt = (z[..., :4].permute(0, 2, 1, 3).reshape(3, 5, 4) for z in (q, k))
        expected = att._msa(qt, kt, v[..., :4].permute(0, 2, 1, 3).reshape(3, 5, 4))  # (N, T, 4)
    w = att.last_attention[0]  # (N, heads, T, T)
    mine = (w @ vt).transpose(1, 2).reshape(3, 5, 4)
    torch.testing.assert_close(mine, expected)


@pytest.mark.parametrize("name", ["sportnet", "c3d_attn"])
def test_models_without_temporal_attention_give_none(name):
    model = make(name)
    assert not has_temporal_attention(model)
    assert temporal_attention(model, inputs_for(model)) is None


# ---------------------------------------------------------------- frame choice
def test_choose_frames_by_attention_else_evenly():
    assert choose_frames(8, np.array([.05, .3, .05, .2, .1, .1, .15, .05]), 3).tolist() == [1, 3, 6]
    assert choose_frames(16, None, 4).tolist() == [0, 5, 10, 15]
    assert choose_frames(3, None, 4).tolist() == [0, 1, 2]
    assert choose_frames(1, np.array([1.0]), 4).tolist() == [0]


# ---------------------------------------------------------------- images
def test_overlay_keeps_the_picture_where_the_map_is_zero():
    crop = np.full((S, S, 3), 100, np.uint8)
    cam = np.zeros((S, S), np.float32)
    cam[:8, :8] = 1.0
    out = overlay_cam(crop, cam)
    assert out.shape == (S, S, 3) and out.dtype == np.uint8
    assert (out[8:, 8:] == 100).all() and (out[:8, :8] != 100).any()
    with pytest.raises(ValueError, match="differ"):
        overlay_cam(crop, cam[:4])


def test_plots_write_non_empty_pngs(tmp_path):
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (4, S, S, 3), dtype=np.uint8)
    cams = rng.random((4, S, S)).astype(np.float32)
    png = plot_gradcam(crops, cams, ["a", "b", "c", "d"], tmp_path / "cam.png", suptitle="x")
    assert png.startswith(PNG_MAGIC) and (tmp_path / "cam.png").read_bytes() == png
    png = plot_attention(np.linspace(0, 1, 8), np.full(8, 1 / 8), [1, 5], tmp_path / "sub" / "att.png")
    assert png.startswith(PNG_MAGIC) and (tmp_path / "sub" / "att.png").stat().st_size > 1000
    assert plot_attention(np.array([0.0]), np.array([1.0])).startswith(PNG_MAGIC)  # one frame
    with pytest.raises(ValueError):
        plot_gradcam(crops, cams[:2])
    with pytest.raises(ValueError):
        plot_attention(np.arange(3), np.ones(4))


def _prediction(attention: bool = True) -> VideoPrediction:
    return VideoPrediction(model="sportnet (best.pt)", classes=("golf_swing", "squat"), probs=np.array([0.8, 0.2]),
                           frame_times=np.array([0.0, 0.5, 1.0, 1.5]), explained=np.array([1, 3]),
                           crops=np.zeros((2, S, S, 3), np.uint8), cams=np.zeros((2, S, S), np.float32),
                           attention=np.array([.1, .4, .2, .3]) if attention else None, gradcam_layer="layer4.1",
                           figures={"explain_gradcam.png": PNG_MAGIC + b"x"})


def test_prediction_summary_is_json_and_the_report_section_shows_the_images():
    pred = _prediction()
    d = json.loads(json.dumps(pred.to_dict()))
    assert d["label"] == "golf_swing" and d["confidence"] == 0.8 and d["top3"][0] == ["golf_swing", 0.8]
    assert d["explained_frame_times"] == [0.5, 1.5] and d["attention"] == [0.1, 0.4, 0.2, 0.3]
    assert d["images"] == ["explain_gradcam.png"]
    assert _prediction(attention=False).to_dict()["attention"] is None
    html = _video_model(SimpleNamespace(video_prediction=pred))
    assert "What the model looked at" in html and "explain_gradcam.png" in html
    assert "data:image/png;base64," in html and "golf swing" in html
    assert _video_model(SimpleNamespace(video_prediction=None)) == ""
