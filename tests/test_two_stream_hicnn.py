"""Optical flow utilities (seed 004 eq. 4-6), the two-stream MHSSA model, involution, HICNN-PSTA and
its multi-task loss (seed 001 eq. 3, 6-7), pose metrics and heatmap targets. Tiny sizes, CPU, one thread."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import sportlens.video.flow as flow_mod
from sportlens.data.heatmaps import gaussian_heatmaps
from sportlens.engine.loops import evaluate, train_one_epoch
from sportlens.engine.metrics import heatmap_argmax, pck
from sportlens.engine.tasks import (TASKS, ActionPoseOutput, ActionPoseTask, VideoClassificationTask,
                                    elastic_net_heatmap_loss)
from sportlens.models.backbones.involution import Involution2d, involution_reference
from sportlens.models.backbones.resnet import cross_modality_init, resnet18
from sportlens.models.registry import create_model
from sportlens.video.flow import FlowCache, compute_flow, normalise_flow, stack_flow


pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- flow: eq. 4, eq. 5, computing, cache
def test_normalise_flow_is_eq4_with_the_clip_bounds():
    f = np.array([-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0], dtype=np.float32)
    flow = np.stack([f, -f], axis=-1)[None, None]  # (1, 1, 7, 2): (L-1, H, W, 2)
    out = normalise_flow(flow, bound=20.0)
    # clip to [-20, 20], then 255 (o + 20) / 40, rounded: -10 -> 63.75 -> 64, 0 -> 127.5 -> 128, 10 -> 191.25 -> 191
    assert out.dtype == np.uint8 and out.shape == flow.shape
    assert out[0, 0, :, 0].tolist() == [0, 0, 64, 128, 191, 255, 255]
    assert out[0, 0, :, 1].tolist() == [255, 255, 191, 128, 64, 0, 0]
    # the model contract maps uint8 back by f / 127.5 - 1: zero motion ~ 0, the bounds -> -1 / +1
    assert abs(128 / 127.5 - 1) < 0.01


def test_normalise_flow_per_field_minmax_reading():
    x = np.array([[-2.0, 0.0], [2.0, 6.0]], dtype=np.float32)  # one 2x2 field
    flow = np.stack([x, np.zeros_like(x)], axis=-1)[None]  # (1, 2, 2, 2); y field constant
    out = normalise_flow(flow, bound=5.0, minmax="field")
    # x clipped to [-2, 5]: min -2 -> 0, max 5 -> 255, 0 -> 255 * 2/7 = 72.9 -> 73, 2 -> 145.7 -> 146
    assert out[0, :, :, 0].tolist() == [[0, 73], [146, 255]]
    assert (out[0, :, :, 1] == 128).all()  # a constant field carries no motion: mid grey


def test_stack_flow_interleaves_k_fields_and_repeats_at_the_ends():
    n_fields, h, w = 5, 3, 4  # a clip of 6 frames
    f = np.zeros((n_fields, h, w, 2), dtype=np.uint8)
    f[..., 0] = np.arange(n_fields)[:, None, None]  # u of field i = i
    f[..., 1] = 100 + np.arange(n_fields)[:, None, None]  # v of field i = 100 + i
    st = stack_flow(f, [0, 3, 5], k=3)
    assert st.shape == (3, 6, h, w) and st.dtype == np.uint8
    assert st[:, :, 0, 0].tolist() == [[0, 100, 0, 100, 1, 101],  # frame 0: fields -1,0,1 -> 0,0,1
                                       [2, 102, 3, 103, 4, 104],  # frame 3: fields 2,3,4
                                       [4, 104, 4, 104, 4, 104]]  # frame 5 (last): 4,5,6 -> 4,4,4
    start = stack_flow(f, [3], k=2, anchor="start")
    assert start[0, :, 0, 0].tolist() == [3, 103, 4, 104]  # eq. 5 read literally: t0 .. t0+k-1
    with pytest.raises(ValueError, match="frame indices"):
        stack_flow(f, [6], k=2)


def _textured(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 2.0)
    img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)
    return np.repeat(img.astype(np.uint8)[..., None], 3, axis=2)  # (H, W, 3) RGB


@pytest.mark.parametrize("method", ["farneback", "tvl1"])
def test_compute_flow_recovers_a_known_shift(method):
    a = _textured()
    b = np.roll(a, shift=(-2, 3), axis=(0, 1))  # content moves 3 px right and 2 px up
    flow = compute_flow(np.stack([a, b, b]), method=method)
    assert flow.shape == (2, 64, 64, 2) and flow.dtype == np.float32
    inner = flow[0, 12:-12, 12:-12]  # away from the wrap-around border
    assert np.median(inner[..., 0]) == pytest.approx(3.0, abs=0.6)
    assert np.median(inner[..., 1]) == pytest.approx(-2.0, abs=0.6)
    assert np.abs(flow[1]).mean() < 0.3  # identical frames: no motion


def test_tvl1_without_contrib_names_the_missing_module(monkeypatch):
    monkeypatch.delattr(flow_mod.cv2, "optflow")
    with pytest.raises(ImportError, match=r"cv2\.optflow.*opencv-contrib"):
        compute_flow(np.stack([_textured(), _textured()]), method="tvl1")


def test_flow_cache_round_trip_settings_mismatch_and_atomic_write(tmp_path, monkeypatch):
    frames = np.stack([_textured(40, 48), np.roll(_textured(40, 48), 2, axis=1)])
    calls = []

    def frames_fn():
        calls.append(1)
        return frames

    cache = FlowCache(tmp_path / "flow")
    settings = {"method": "farneback", "bound": 20.0, "size": (32, 32)}
    first = cache.get("penn/0001.mp4", frames_fn, settings)
    assert first.shape == (1, 32, 32, 2) and first.dtype == np.uint8
    again = cache.get("penn/0001.mp4", frames_fn, dict(settings, size=[32, 32]))  # same settings, list form
    assert np.array_equal(first, again) and len(calls) == 1  # computed once
    files = sorted(p.name for p in (tmp_path / "flow").iterdir())
    assert len(files) == 1 and files[0].endswith(".npz")  # no temp file left behind

    with pytest.raises(ValueError) as err:
        cache.get("penn/0001.mp4", frames_fn, dict(settings, bound=10.0))
    assert files[0] in str(err.value) and "bound" in str(err.value) and "another setting" in str(err.value)

    def broken(*args, **kwargs):  # a crash in the middle of writing
        raise OSError("disk full")

    monkeypatch.setattr(flow_mod.np, "savez_compressed", broken)
    with pytest.raises(OSError):
        cache.get("penn/0002.mp4", frames_fn, settings)
    assert sorted(p.name for p in (tmp_path / "flow").iterdir()) == files  # nothing partial appeared


# ---------------------------------------------------------------- eq. 6, involution (eq. 3)
def test_cross_modality_init_is_the_channel_mean_eq6(tmp_path):
    w = torch.randn(8, 3, 7, 7)
    out = cross_modality_init(w, 4)
    assert out.shape == (8, 4, 7, 7)
    for c in range(4):
        assert torch.allclose(out[:, c], w.mean(dim=1))
    # through the model: a torchvision-format checkpoint -> RGB copy, flow conv1 by eq. 6
    torch.manual_seed(0)
    ckpt = tmp_path / "resnet18.pth"
    torch.save(resnet18().state_dict(), ckpt)
    m = create_model("two_stream", num_classes=3, num_frames=2, image_size=32, flow_stack=2, pretrained=str(ckpt))
    src = torch.load(ckpt, weights_only=True)["conv1.weight"]
    assert torch.equal(m.rgb.backbone.conv1.weight, src)
    assert torch.allclose(m.flow.backbone.conv1.weight, src.mean(dim=1, keepdim=True).expand(-1, 4, -1, -1))


@pytest.mark.parametrize("stride", [1, 2])
def test_involution_matches_the_loop_reference(stride):
    torch.manual_seed(0)
    m = Involution2d(8, kernel_size=3, stride=stride, groups=2, reduction=2).eval()
    x = torch.randn(2, 8, 5, 6)
    y = m(x)
    assert y.shape == (2, 8, -(-5 // stride), -(-6 // stride))
    ref = involution_reference(x, m.generate_kernel(x), stride)
    assert torch.allclose(y, ref, atol=1e-5)
    # eq. 3: the kernel is shared by the channels of a group: channels 0..3 see the same kernel
    psi = m.generate_kernel(x)
    assert psi.shape == (2, 2, 3, 3, *y.shape[-2:])


# ---------------------------------------------------------------- two-stream (seed 004)
def _two_stream(**kw) -> nn.Module:
    torch.manual_seed(0)
    args = dict(num_classes=3, num_frames=2, image_size=64, flow_stack=2, width=16)
    return create_model("two_stream", **{**args, **kw})


def _clip(b: int, t: int, c: int, size: int, seed: int) -> torch.Tensor:
    return torch.randn(b, t, c, size, size, generator=torch.Generator().manual_seed(seed))


def test_two_stream_shapes_fusion_and_gradients():
    m = _two_stream()
    assert m.inputs == ("rgb", "flow") and m.num_classes == 3 and m.image_size == 64
    rgb, flow = _clip(2, 2, 3, 64, 1), _clip(2, 2, 4, 64, 2)
    m.eval()
    with torch.no_grad():
        s = m.stream_logits(rgb, flow)
        out = m(rgb=rgb, flow=flow)
    assert s.shape == (2, 2, 3) and out.shape == (2, 3) and torch.isfinite(out).all()
    assert torch.allclose(out, (1.0 * s[:, 0] + 1.5 * s[:, 1]) / 2.5, atol=1e-6)  # eq. 7, RGB:flow = 1:1.5
    m.train()
    F.cross_entropy(m(rgb=rgb, flow=flow), torch.tensor([0, 2])).backward()
    no_grad = [n for n, p in m.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert no_grad == []
    with pytest.raises(ValueError, match="flow"):
        m(rgb=rgb, flow=_clip(2, 2, 6, 64, 3))  # 3 stacked fields for a k = 2 model


def test_two_stream_partial_bn_keeps_all_but_the_first_bn_in_eval_mode():
    m = _two_stream()
    m.train()
    for stream in (m.rgb, m.flow):
        bns = {n: mod for n, mod in stream.backbone.named_modules() if isinstance(mod, nn.BatchNorm2d)}
        assert bns["bn1"].training
        assert len(bns) > 1 and not any(mod.training for n, mod in bns.items() if n != "bn1")
    assert m.rgb.spatial.training and m.flow.temporal.training  # the rest trains normally
    before = m.rgb.backbone.layer1[0].bn1.running_mean.clone()
    first = m.rgb.backbone.bn1.running_mean.clone()
    m(rgb=_clip(2, 2, 3, 64, 1), flow=_clip(2, 2, 4, 64, 2))
    assert torch.equal(m.rgb.backbone.layer1[0].bn1.running_mean, before)  # frozen statistics
    assert not torch.equal(m.rgb.backbone.bn1.running_mean, first)  # the first BN still adapts
    full = _two_stream(partial_bn=False).train()
    assert all(mod.training for mod in full.modules() if isinstance(mod, nn.BatchNorm2d))


def test_two_stream_overfits_a_tiny_batch_with_the_video_task():
    m = _two_stream(image_size=32, dropout=0.0)
    task = TASKS["video_classification"]()
    assert isinstance(task, VideoClassificationTask)
    batch = {"rgb": _clip(4, 2, 3, 32, 1), "flow": _clip(4, 2, 4, 32, 2), "label": torch.tensor([0, 1, 2, 1])}
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    m.train()
    first = None
    for _ in range(40):
        loss = task.loss(task.forward(m, batch), batch)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    assert task.correct(task.forward(m, batch), batch) == 4


# ---------------------------------------------------------------- HICNN-PSTA (seed 001) and its task
def _hicnn(**kw) -> nn.Module:
    torch.manual_seed(0)
    args = dict(num_classes=3, num_frames=2, image_size=32, width=16, heatmap_size=8, involution_kernel=3)
    return create_model("hicnn_psta", **{**args, **kw})


def _pose_batch(b: int = 4, t: int = 2, size: int = 32, hs: int = 8) -> dict:
    g = np.random.default_rng(0)
    kp = g.uniform(1.0, hs - 2.0, (b, t, 13, 2))
    vis = g.uniform(size=(b, t, 13)) > 0.2
    return {"rgb": _clip(b, t, 3, size, 5), "label": torch.tensor([0, 1, 2, 0][:b]),
            "heatmaps": torch.from_numpy(gaussian_heatmaps(kp, vis, hs, sigma=1.0)),
            "heatmap_mask": torch.from_numpy(vis)}


def test_hicnn_psta_shapes_and_gradients():
    m = _hicnn()
    assert m.inputs == ("rgb",) and m.num_joints == 13 and m.skeleton == "penn13"
    rgb = _clip(2, 2, 3, 32, 1)
    logits, maps = m.forward_multitask(rgb)
    assert logits.shape == (2, 3) and maps.shape == (2, 2, 13, 8, 8)
    assert torch.isfinite(logits).all() and ((maps > 0) & (maps < 1)).all()
    b = _pose_batch(b=2)
    ActionPoseTask().loss(ActionPoseOutput(logits, maps), b).backward()
    no_grad = [n for n, p in m.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert no_grad == []
    with torch.no_grad():
        assert m.eval()(rgb=rgb).shape == (2, 3)
        assert m(rgb=_clip(1, 3, 3, 48, 2)).shape == (1, 3)  # other T and image size: embeddings resampled


def test_hicnn_psta_overfits_a_tiny_batch_through_the_training_loop():
    m = _hicnn(dropout=0.0)
    task = TASKS["action_pose"](pose_weight=0.1)
    batch = _pose_batch()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    with torch.no_grad():
        start_pose = task.pose_loss(task.forward(m.eval(), batch), batch).item()
    for _ in range(60):  # BN running statistics need a few dozen steps before eval mode agrees
        stats = train_one_epoch(m, task, [batch], opt)  # the loop detaches the outputs: ActionPoseOutput
    res = evaluate(m, task, [batch])
    assert res.probs.shape == (4, 3) and (res.probs.argmax(1) == batch["label"].numpy()).all()
    assert stats["accuracy"] == 1.0
    with torch.no_grad():
        assert task.pose_loss(task.forward(m.eval(), batch), batch).item() < 0.5 * start_pose  # maps learnt too


class _FixedModel(nn.Module):
    inputs = ("rgb",)

    def __init__(self, logits, maps):
        super().__init__()
        self.logits, self.maps = logits, maps

    def forward_multitask(self, rgb):
        return self.logits, self.maps


def test_action_pose_loss_is_ce_plus_weighted_elastic_net_by_hand():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    pred = torch.tensor([[[[[0.5, 0.0], [0.0, 0.0]],  # joint 0, visible
                           [[0.9, 0.9], [0.9, 0.9]]]]])  # joint 1, masked out: must not count
    target = torch.tensor([[[[[1.0, 0.0], [0.0, 0.2]],
                             [[0.0, 0.0], [0.0, 0.0]]]]])  # (B=1, T=1, V=2, 2, 2)
    batch = {"rgb": torch.zeros(1, 1, 3, 4, 4), "label": torch.tensor([1]), "heatmaps": target,
             "heatmap_mask": torch.tensor([[[True, False]]])}
    task = ActionPoseTask(pose_weight=0.5)
    out = task.forward(_FixedModel(logits, pred), batch)
    ce = -math.log(math.exp(0.0) / (math.exp(2.0) + math.exp(0.0) + math.exp(-1.0)))
    l1, l2 = 0.5 + 0.2, 0.25 + 0.04  # |diff| and diff^2 summed over joint 0's pixels, N_j = 1
    assert task.loss(out, batch).item() == pytest.approx(ce + 0.5 * (l1 + l2), rel=1e-6)
    assert task.correct(out.detach(), batch) == 0 and task.predict(out).shape == (1, 3)
    # two visible joints: the mean over them (eq. 7's 1/N_j)
    both = elastic_net_heatmap_loss(pred, target, torch.tensor([[[True, True]]]))
    assert both.item() == pytest.approx((l1 + l2 + 3.6 + 3.24) / 2, rel=1e-6)
    assert elastic_net_heatmap_loss(pred, target, torch.zeros(1, 1, 2, dtype=torch.bool)).item() == 0.0
    assert TASKS["action_pose"] is ActionPoseTask and TASKS["video_classification"] is VideoClassificationTask


# ---------------------------------------------------------------- metrics and targets
def test_pck_on_hand_made_points():
    gt = np.zeros((1, 4, 2))
    pred = np.array([[[1.0, 0.0], [0.0, 3.0], [3.0, 4.0], [50.0, 50.0]]])  # distances 1, 3, 5, 70.7
    visible = np.array([[True, True, True, False]])  # the far-off joint is not visible: ignored
    assert pck(pred, gt, visible, np.array([10.0]), alpha=0.3) == pytest.approx(2 / 3)  # threshold 3, inclusive
    assert pck(pred, gt, visible, np.array([10.0]), alpha=0.5) == 1.0
    pred[0, 0] = np.nan  # a visible joint without a prediction is wrong
    assert pck(pred, gt, visible, np.array([10.0]), alpha=0.5) == pytest.approx(2 / 3)
    assert math.isnan(pck(pred, gt, np.zeros((1, 4), bool), np.array([10.0]), alpha=0.5))


def test_heatmap_argmax_inverts_gaussian_heatmaps():
    rng = np.random.default_rng(0)
    kp = rng.uniform(2.0, 29.0, (3, 5, 2))  # (N, V, 2), sub-pixel
    kp[0, 0] = [0.0, 31.0]  # on the border: integer argmax there
    vis = np.ones((3, 5), bool)
    vis[1, 2] = False
    maps = gaussian_heatmaps(kp, vis, size=32, sigma=1.5)
    assert maps.shape == (3, 5, 32, 32) and maps.dtype == np.float32
    assert maps[1, 2].max() == 0.0 and maps[0, 1].max() <= 1.0
    back = heatmap_argmax(maps)
    assert back.shape == (3, 5, 2)
    assert np.isnan(back[1, 2]).all()  # no peak
    assert np.allclose(back[vis], kp[vis], atol=1e-3)
    assert np.allclose(heatmap_argmax(torch.from_numpy(maps))[vis], kp[vis], atol=1e-3)
