"""Skeleton recognition models: the common interface, for every registered model (fast, CPU)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sportlens.models import SkeletonModel, create_model, list_models
from sportlens.skeletons import LAYOUTS, get_skeleton


def _is_skeleton_model(name: str) -> bool:
    with torch.device("meta"):  # builds the module without allocating weights
        return isinstance(create_model(name), SkeletonModel)


# The video models (RGB / RGB+pose / flow) have their own registry-wide tests in test_video_models.py.
MODELS = [name for name in list_models() if _is_skeleton_model(name)]

# Small sizes keep each test fast; a model missing here is tested with its defaults.
SMALL: dict[str, dict] = {
    "sportnet_pose": dict(hidden=64),
    "stgcn": dict(channels=(16, 32, 32)),
    "psta": dict(dim=32, depth=1),
    "mhssa": dict(dim=32, depth=1),
    "lstm_attn": dict(hidden=32, attn_dim=32),
    "tcn": dict(width=64),
    "tcn_ensemble": dict(width=32),
}
T = 16


pytestmark = pytest.mark.usefixtures("one_thread")


def make(name: str, skeleton: str = "penn13", num_classes: int = 4, seed: int = 0, **kw) -> torch.nn.Module:
    torch.manual_seed(seed)
    kwargs = {"num_classes": num_classes, "skeleton": skeleton, "in_channels": 5, "num_frames": T,
              **SMALL.get(name, {}), **kw}
    return create_model(name, **kwargs)


def batch(skeleton: str = "penn13", b: int = 4, t: int = T, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, get_skeleton(skeleton).num_joints, 5, generator=g)


def test_registry_lists_the_builtin_models():
    assert {"sportnet_pose", "stgcn", "psta", "mhssa", "lstm_attn", "tcn"} <= set(MODELS)


def test_unknown_model_raises_keyerror_listing_available():
    with pytest.raises(KeyError) as err:
        create_model("no_such_model")
    for name in MODELS:
        assert name in str(err.value)


@pytest.mark.parametrize("name", MODELS)
def test_default_construction_and_attributes(name):
    m = create_model(name)
    assert (m.skeleton, m.in_channels, m.num_classes, m.num_frames) == ("penn13", 5, 15, 32)
    with torch.no_grad():
        out = m.eval()(torch.randn(2, 32, 13, 5))
    assert out.shape == (2, 15)


@pytest.mark.parametrize("skeleton", sorted(LAYOUTS))
@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_finite_for_each_layout(name, skeleton):
    m = make(name, skeleton=skeleton, num_classes=7)
    assert m.skeleton == skeleton and m.num_classes == 7 and m.in_channels == 5
    x = batch(skeleton, b=3)
    for mode in (m.train, m.eval):
        mode()
        out = m(x)
        assert out.shape == (3, 7)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_other_in_channels_and_clip_lengths(name):
    m = make(name, in_channels=3).eval()
    for t in (1, 9, T, 40):
        x = torch.randn(2, t, 13, 3)
        out = m(x)
        assert out.shape == (2, 4) and torch.isfinite(out).all(), t


@pytest.mark.parametrize("name", MODELS)
def test_wrong_input_shape_is_a_clear_error(name):
    m = make(name)
    with pytest.raises(ValueError, match="skeleton"):
        m(batch("coco17"))  # V=17 into a penn13 model
    with pytest.raises(ValueError):
        m(torch.randn(2, T, 13 * 5))


@pytest.mark.parametrize("name", MODELS)
def test_non_finite_input_gives_finite_output(name):
    m = make(name).eval()
    x = batch()
    x[0, :3, 2] = float("nan")
    x[1, 5, 0, 0] = float("inf")
    assert torch.isfinite(m(x)).all()


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_the_input(name):
    m = make(name).train()
    x = batch().requires_grad_(True)
    loss = F.cross_entropy(m(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    for n, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n


@pytest.mark.parametrize("name", MODELS)
def test_eval_is_deterministic_and_per_sample(name):
    m = make(name).eval()
    x = batch(b=5)
    with torch.no_grad():
        a, b = m(x), m(x)
        part = m(x[:2])
    assert torch.equal(a, b)
    torch.testing.assert_close(part, a[:2], atol=1e-5, rtol=1e-4)  # no leak across the batch


@pytest.mark.parametrize("name", MODELS)
def test_overfits_a_tiny_batch(name):
    m = make(name, num_classes=4)
    x = batch(b=8, seed=3)
    y = torch.arange(8) % 4
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for step in range(150):
        m.train()
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9 and loss.item() < 0.05:
            m.eval()
            with torch.no_grad():
                out = m(x)
            if (out.argmax(1) == y).all() and F.cross_entropy(out, y).item() < 0.05:
                break
    m.eval()
    with torch.no_grad():
        out = m(x)
    assert (out.argmax(1) == y).float().mean().item() == 1.0
    assert F.cross_entropy(out, y).item() < 0.05


def test_mhssa_sigmoid_and_softmax_differ():
    x = batch()
    sig = make("mhssa", attention="sigmoid").eval()
    soft = make("mhssa", attention="softmax").eval()
    # same seed, same parameters: only the attention function differs
    for (n1, p1), (n2, p2) in zip(sig.named_parameters(), soft.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)
    with torch.no_grad():
        a, b = sig(x), soft(x)
    assert not torch.allclose(a, b, atol=1e-4)
    att = sig.blocks[0].attn.last_attention
    assert att.shape == (4, 2, T, T) and (att > 0).all() and (att < 1).all()
    rows = soft.blocks[0].attn.last_attention.sum(-1)
    torch.testing.assert_close(rows, torch.ones_like(rows))
    with pytest.raises(ValueError):
        make("mhssa", attention="relu")


def test_lstm_attn_exposes_attention_weights():
    m = make("lstm_attn").eval()
    x = batch(b=3, t=11)
    with torch.no_grad():
        m(x)
    a = m.last_attention
    assert a.shape == (3, 11)
    torch.testing.assert_close(a.sum(1), torch.ones(3))
    assert not make("lstm_attn", bidirectional=False)(x).isnan().any()


@pytest.mark.parametrize("skeleton", sorted(LAYOUTS))
def test_stgcn_partitions(skeleton):
    from sportlens.models.stgcn import graph_partitions

    layout = get_skeleton(skeleton)
    adj = layout.adjacency()
    norm = adj / adj.sum(axis=0, keepdims=True)
    spatial = graph_partitions(layout, "spatial")
    uniform = graph_partitions(layout, "uniform")
    assert spatial.shape == (3, layout.num_joints, layout.num_joints)
    assert uniform.shape == (1, layout.num_joints, layout.num_joints)
    np.testing.assert_allclose(spatial.sum(0), norm, rtol=1e-6)  # the subsets split A D^-1
    np.testing.assert_allclose(uniform[0], norm, rtol=1e-6)
    np.testing.assert_allclose(norm.sum(0), 1.0, rtol=1e-6)  # every root averages its neighbours
    assert (spatial[0].diagonal() > 0).all()  # self loops are in the root subset
    assert spatial[1].sum() > 0 and spatial[2].sum() > 0
    m = make("stgcn", skeleton=skeleton, partition="uniform").eval()
    assert m(batch(skeleton)).shape == (4, 4)
    with pytest.raises(ValueError):
        graph_partitions(layout, "distance")


def test_stream_ensemble_fuses_member_probabilities():
    m = create_model("tcn_ensemble", num_classes=4, in_channels=9, num_frames=T, width=16).eval()
    assert [len(g) for g in m.streams] == [5, 5] and m.streams[1][:4] == [5, 6, 7, 8]
    x = torch.randn(3, T, 13, 9)
    with torch.no_grad():
        z = m.member_logits(x)  # (B, S, K)
        assert z.shape == (3, 2, 4)
        # each member sees only its channel group
        torch.testing.assert_close(z[:, 0], m.members[0](x[..., :5]))
        torch.testing.assert_close(z[:, 1], m.members[1](x[..., [5, 6, 7, 8, 4]]))
        torch.testing.assert_close(m(x).softmax(-1), z.softmax(-1).mean(1))
    with pytest.raises(ValueError, match=r"channels \[9\] do not exist"):
        create_model("tcn_ensemble", in_channels=9, streams=[[0, 9]])


def test_psta_strided_stem_divides_the_tokens():
    m = create_model("psta", num_classes=4, num_frames=T, dim=32, depth=1, stem_stride=2).eval()
    assert m.pos_t.shape == (T // 2, 32)
    for t in (1, 9, T, 40):
        out = m(torch.randn(2, t, 13, 5))
        assert out.shape == (2, 4) and torch.isfinite(out).all(), t
    with pytest.raises(ValueError, match="stem_stride"):
        create_model("psta", stem_stride=0)
