"""Video models (sportnet, c3d_attn, cnn_lstm), the CBAM blocks and key-frame selection (fast, CPU)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

# The model classes, for isinstance checks.
from sportlens.models import c3d_attn as c3d_mod
from sportlens.models import cnn_lstm as cnn_lstm_mod
from sportlens.models import sportnet as sportnet_mod
from sportlens.models.backbones.resnet import resnet18
from sportlens.models.blocks import (CBAM, CBAM3d, ChannelAttention, SpatialAttention, SpatialAttention3d,
                                     TemporalAttention)
from sportlens.models.registry import create_model, list_models
from sportlens.video.keyframes import frame_differences, select_key_frames

from _tiny_video import SMALL, S, T

VIDEO_MODELS = ["sportnet", "c3d_attn", "cnn_lstm", "two_stream", "hicnn_psta"]

pytestmark = pytest.mark.usefixtures("one_thread")


def make(name: str, num_classes: int = 4, seed: int = 0, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(name, num_classes=num_classes, num_frames=T, image_size=S, **{**SMALL[name], **kw})


def inputs_for(model, b: int = 2, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shapes = {"rgb": (b, T, 3, S, S), "pose": (b, T, model.num_joints, model.in_channels),
              "flow": (b, T, 2 * getattr(model, "flow_stack", 1), S, S)}
    return {k: torch.randn(*shapes[k], generator=g) for k in model.inputs}


def test_video_models_are_registered():
    from sportlens.models import VideoModel
    with torch.device("meta"):
        registered = {n for n in list_models() if isinstance(create_model(n), VideoModel)}
    assert registered == set(VIDEO_MODELS)  # a new video model must join the registry-wide tests
    classes = {"sportnet": sportnet_mod.SportNet, "c3d_attn": c3d_mod.C3DAttention,
               "cnn_lstm": cnn_lstm_mod.CNNLSTM}
    for name in classes:
        assert isinstance(make(name), classes[name])


@pytest.mark.parametrize("name, inputs, size", [("sportnet", ("rgb", "pose"), 224),
                                                ("c3d_attn", ("rgb",), 112), ("cnn_lstm", ("rgb",), 224)])
def test_defaults_and_interface_attributes(name, inputs, size):
    m = create_model(name)
    assert m.inputs == inputs
    assert (m.num_classes, m.num_frames, m.image_size, m.skeleton, m.num_joints, m.in_channels) == \
        (15, 16, size, "penn13", 13, 5)


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_output_shape_and_finite(name):
    m = make(name, num_classes=7)
    x = inputs_for(m, b=3)
    for mode in (m.train, m.eval):
        mode()
        out = m(**x)
        assert out.shape == (3, 7)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_gradients_reach_every_parameter_and_the_input(name):
    m = make(name).train()
    x = {k: v.requires_grad_() for k, v in inputs_for(m, b=4).items()}
    y = torch.tensor([0, 1, 2, 3])
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    # One step first: the ResNets zero-init each block's last BN gain (identity blocks), which blocks
    # the gradient of the convs before it until that gain has moved.
    F.cross_entropy(m(**x), y).backward()
    opt.step()
    opt.zero_grad()
    for v in x.values():
        v.grad = None
    F.cross_entropy(m(**x), y).backward()
    for pname, p in m.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"
    for k, v in x.items():
        assert v.grad is not None and v.grad.abs().sum() > 0, f"input {k} gets no gradient"


def _toy_clips(model, n: int = 8, classes: int = 4) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """n clips, two per class: a fixed per-class pattern plus noise in every input tensor."""
    g = torch.Generator().manual_seed(3)
    y = torch.arange(n) % classes
    x = inputs_for(model, b=n, seed=4)
    for k, v in x.items():
        proto = torch.randn(classes, *v.shape[1:], generator=g)
        x[k] = proto[y] + 0.3 * v
    return x, y


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_overfits_a_tiny_batch(name):
    m = make(name, dropout=0.0)
    x, y = _toy_clips(m)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    first = None
    acc = 0.0
    for step in range(100):
        m.train()
        loss = F.cross_entropy(m(**x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9:
            with torch.no_grad():
                acc = (m.eval()(**x).argmax(1) == y).float().mean().item()
            if acc >= 0.9 and loss.item() < 0.5 * first:
                break
    assert acc >= 0.9, f"{name}: train accuracy {acc:.2f} after {step + 1} steps"
    assert loss.item() < 0.5 * first, f"{name}: loss {first:.3f} -> {loss.item():.3f}"


@pytest.mark.parametrize("name", VIDEO_MODELS)
def test_eval_is_deterministic_and_per_sample(name):
    m = make(name).eval()
    x = inputs_for(m, b=3)
    with torch.no_grad():
        a, b = m(**x), m(**x)
        one = m(**{k: v[:1] for k, v in x.items()})
    assert torch.equal(a, b)
    torch.testing.assert_close(one, a[:1], rtol=1e-4, atol=1e-5)  # no batch statistics in eval


def test_sportnet_checks_inputs_and_segment_logits_average_to_forward():
    m = make("sportnet").eval()
    x = inputs_for(m, b=2)
    with torch.no_grad():
        seg = m.forward_segments(**x)
        torch.testing.assert_close(seg.mean(dim=1), m(**x), rtol=1e-5, atol=1e-6)
    assert seg.shape == (2, T, 4)
    with pytest.raises(ValueError, match="disagree"):
        m(rgb=x["rgb"], pose=x["pose"][:, :2])
    with pytest.raises(ValueError, match="pose"):
        m(rgb=x["rgb"], pose=x["pose"][..., :3])
    with pytest.raises(ValueError, match="rgb"):
        m(rgb=x["rgb"][:, :, :1], pose=x["pose"])


def test_cnn_lstm_attention_weights_are_a_distribution_over_time():
    m = make("cnn_lstm", num_layers=2).eval()
    with torch.no_grad():
        m(**inputs_for(m, b=3))
    a = m.last_attention
    assert a.shape == (3, T)
    assert (a > 0).all()
    torch.testing.assert_close(a.sum(dim=1), torch.ones(3))


# ------------------------------------------------------------------ ablation switches (seed 002)
ABLATIONS = {  # name: (residual, asymmetric, attention)
    "full": (True, True, True), "A1": (False, True, True), "A2": (True, False, True),
    "A3": (True, True, False), "B1": (False, False, True), "B2": (False, True, False),
    "B3": (True, False, False),
}


@pytest.mark.parametrize("ablation", sorted(ABLATIONS))
def test_c3d_ablation_switches_change_the_structure(ablation):
    residual, asymmetric, attention = ABLATIONS[ablation]
    m = make("c3d_attn", width=4, residual=residual, asymmetric=asymmetric, attention=attention)
    blocks = [mod for mod in m.modules() if isinstance(mod, c3d_mod.Block3d)]
    assert len(blocks) == 4
    assert all((b.shortcut is not None) == residual for b in blocks)
    assert all((b.attn is not None) == attention for b in blocks)
    assert any(isinstance(mod, CBAM3d) for mod in m.modules()) == attention
    asym = [mod for mod in m.modules() if isinstance(mod, c3d_mod.AsymConv3d)]
    full = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv3d) and mod.kernel_size == (3, 3, 3)]
    assert (len(asym), len(full)) == ((9, 0) if asymmetric else (0, 9))  # stem + 4 blocks x 2 convs
    with torch.no_grad():
        assert m.eval()(**inputs_for(m, b=1)).shape == (1, 4)


def test_c3d_handles_a_single_frame_and_odd_sizes():
    m = make("c3d_attn", width=4).eval()
    with torch.no_grad():
        assert m(rgb=torch.randn(1, 1, 3, 37, 45)).shape == (1, 4)


# ------------------------------------------------------------------ CBAM blocks
def test_cbam_2d_shapes_and_ranges():
    x = torch.randn(2, 16, 9, 11)
    ca, sa = ChannelAttention(16, reduction=4), SpatialAttention(7)
    wc, ws = ca.weights(x), sa.weights(x)
    assert wc.shape == (2, 16, 1, 1) and ws.shape == (2, 1, 9, 11)
    assert ((wc > 0) & (wc < 1)).all() and ((ws > 0) & (ws < 1)).all()
    cbam = CBAM(16, reduction=4)
    assert cbam(x).shape == x.shape
    with pytest.raises(ValueError):
        cbam(torch.randn(2, 16, 3, 9, 11))


def test_cbam_3d_follows_eq_14_to_16():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 6, 7)  # (N, C, T, H, W)
    m = CBAM3d(8, reduction=2)
    tc = m.channel.weights(x)
    assert tc.shape == (2, 8, 1, 1, 1)
    f1 = tc * x  # eq. 14
    ts = m.spatial.weights(f1)
    assert ts.shape == (2, 1, 5, 6, 7)
    f2 = ts * f1  # eq. 15
    tm = m.temporal.weights(f2)
    assert tm.shape == (2, 1, 5, 1, 1)  # one weight per frame
    assert ((tm > 0) & (tm < 1)).all()
    out = m(x)
    torch.testing.assert_close(out, tm * f2)  # eq. 16
    torch.testing.assert_close(m.last_temporal, tm)
    plain = CBAM3d(8, reduction=2, temporal=False)
    assert plain.temporal is None and plain(x).shape == x.shape


def test_temporal_attention_weights_shape_and_range_for_any_length():
    for t in (1, 2, 9):
        w = TemporalAttention(4, reduction=2, kernel_size=3).weights(torch.randn(3, 4, t, 5, 5) * 10)
        assert w.shape == (3, 1, t, 1, 1)
        assert ((w > 0) & (w < 1)).all()
    assert SpatialAttention3d(5).weights(torch.randn(1, 4, 3, 8, 8)).shape == (1, 1, 3, 8, 8)
    with pytest.raises(ValueError):
        TemporalAttention(4).weights(torch.randn(1, 4, 8, 8))


# ------------------------------------------------------------------ key frames (seed 003 eq. 1)
def test_select_key_frames_picks_the_largest_differences():
    clip = np.full((10, 8, 8, 3), 100, dtype=np.uint8)
    clip[4] = 250  # a flash: D_3 and D_4 are the largest
    clip[7:] = 120  # a small cut: D_6 next
    d = frame_differences(clip)
    assert d.shape == (9,)
    assert np.argsort(-d, kind="stable")[:3].tolist() == [3, 4, 6]
    assert select_key_frames(clip, 2).tolist() == [3, 4]
    assert select_key_frames(clip, 3).tolist() == [3, 4, 6]
    idx = select_key_frames(clip, 10)
    assert idx.dtype == np.int64 and idx.tolist() == list(range(10))
    with pytest.raises(ValueError):
        select_key_frames(clip, 11)
    with pytest.raises(ValueError):
        select_key_frames(clip, 0)


def test_frame_differences_do_not_wrap_around_in_uint8():
    clip = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    clip[0] = 255
    assert frame_differences(clip)[0] == pytest.approx(255 * np.sqrt(12))


# ------------------------------------------------------------------ torchvision weights
@pytest.mark.parametrize("name", ["sportnet", "cnn_lstm"])
def test_pretrained_loads_a_torchvision_state_dict(name, tmp_path):
    torch.manual_seed(5)
    state = resnet18().state_dict()
    path = tmp_path / "resnet18-test.pth"
    torch.save(state, path)
    m = make(name, width=64, pretrained=str(path))
    own = m.backbone.state_dict()
    for k, v in state.items():
        if not k.startswith("fc."):
            assert torch.equal(own[k], v), k
    with pytest.raises(ValueError):  # a width-8 backbone cannot take ImageNet-width weights
        make(name, width=8, pretrained=str(path))
