"""Forecasting models of issue 6 beyond msgcn's own tests (tests/test_msgcn.py): the seq2seq and trajgcn
baselines, the baselines against hand-computed values, msgcn's ablation switches, the generic training
loop and its PCK loss, and the checkpoint shipped in the package."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from _skeleton_data import make_clips
from conftest import shared_path
from test_msgcn import overfit_sinusoids, sinusoid
from sportlens.forecast.baselines import constant_velocity, zero_velocity
from sportlens.forecast.training import (
    SHIPPED_CHECKPOINT,
    Forecaster,
    MsgcnForecaster,
    TrainConfig,
    pck_loss,
    predict_pixels,
    train_forecaster,
)
from sportlens.models import ForecastModel, create_model
from sportlens.models.trajgcn import dct_matrix

pytestmark = pytest.mark.usefixtures("one_thread")
NEW = ("seq2seq", "trajgcn")


def small(name: str, **kw):
    torch.manual_seed(0)
    hidden = {"seq2seq": 32, "trajgcn": 32, "msgcn": 16}[name]
    return create_model(name, hidden=hidden, **kw)


# ------------------------------------------------------------------ baselines, by hand
def test_zero_velocity_by_hand():
    obs = np.array([[[[0.0, 0.0]], [[1.0, 2.0]], [[3.0, 5.0]]]])  # (1, 3, 1, 2): one joint, 3 frames
    out = zero_velocity(obs, horizon=2)
    assert out.shape == (1, 2, 1, 2)
    np.testing.assert_array_equal(out, [[[[3.0, 5.0]], [[3.0, 5.0]]]])
    obs[0, -1, 0] = np.nan  # missing in the last frame: stays missing
    assert np.isnan(zero_velocity(obs, 2)).all()


def test_constant_velocity_by_hand():
    # x: 0, 1, 2, 4 -> mean velocity of the last 3 steps = (4 - 0) / 3; y: 0, 2, 4, 8 -> 8 / 3
    obs = np.array([[[[0.0, 0.0]], [[1.0, 2.0]], [[2.0, 4.0]], [[4.0, 8.0]]]])  # (1, 4, 1, 2)
    out = constant_velocity(obs, horizon=3)
    expect = [[[[4 + 4 / 3, 8 + 8 / 3]], [[4 + 8 / 3, 8 + 16 / 3]], [[8.0, 16.0]]]]
    np.testing.assert_allclose(out, expect)
    # two frames: the one velocity there is (x1 - x0) / 1
    np.testing.assert_allclose(constant_velocity(obs[:, 2:], horizon=1), [[[[6.0, 12.0]]]])
    # one frame (protocol A): zero velocity
    np.testing.assert_array_equal(constant_velocity(obs[:, -1:], horizon=2), zero_velocity(obs[:, -1:], 2))
    # the older joint missing: zero velocity for that joint, finite forecast
    obs2 = obs.copy()
    obs2[0, 0, 0] = np.nan
    np.testing.assert_allclose(constant_velocity(obs2, horizon=2), [[[[4.0, 8.0]], [[4.0, 8.0]]]])


@pytest.mark.parametrize("name", ("msgcn", *NEW))
def test_fresh_learned_models_are_the_zero_velocity_baseline(name):
    """Output layers start at zero (residual design): before training every model repeats the last pose."""
    obs = sinusoid(3, 10) * 100 + 200  # (3, 10, 13, 2) pixels
    out = predict_pixels(small(name), obs, 16)
    np.testing.assert_allclose(out, zero_velocity(obs, 16), atol=1e-3)


# ------------------------------------------------------------------ the new models
@pytest.mark.parametrize("name", NEW)
def test_shapes_finite_interface(name):
    m = small(name)
    assert isinstance(m, ForecastModel) and m.num_frames == 10 and m.horizon == 16 and m.num_joints == 13
    x = torch.randn(3, 10, 13, 3)
    x[0, 2, 4] = float("nan")
    y = m(x)
    assert y.shape == (3, 16, 13, 2) and torch.isfinite(y).all()
    assert m(x, horizon=5).shape == (3, 5, 13, 2)
    assert m(x[:, -1:], horizon=16).shape == (3, 16, 13, 2)  # one observed pose
    with pytest.raises(ValueError):
        m(torch.randn(3, 10, 13, 2))


@pytest.mark.parametrize("name", NEW)
def test_gradients_reach_every_parameter(name):
    m = small(name)
    with torch.no_grad():  # the output layer starts at zero: move it so gradients flow back
        out = m.out if name == "seq2seq" else m.out.W
        out.weight.normal_(0, 0.1)
    m(torch.randn(4, 10, 13, 3)).square().sum().backward()
    missing = [n for n, p in m.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert not missing


@pytest.mark.parametrize("name", NEW)
def test_overfits_a_tiny_batch(name):
    m = small(name, dropout=0.0) if name == "trajgcn" else small(name)
    loss, zero = overfit_sinusoids(m, 16, lr=5e-3, steps=200)
    assert loss < 0.3 * zero


def test_dct_matrix_is_orthonormal():
    d = dct_matrix(26)
    np.testing.assert_allclose(d @ d.T, np.eye(26), atol=1e-5)


def test_trajgcn_tells_one_pose_from_a_static_window():
    """Protocol A pads with visibility 0: the mean-visibility node feature makes the two inputs differ."""
    m = small("trajgcn")
    with torch.no_grad():
        m.out.W.weight.normal_(0, 0.1)
    pose = torch.randn(1, 1, 13, 2)
    static = torch.cat([pose.expand(-1, 10, -1, -1), torch.ones(1, 10, 13, 1)], -1)  # (1, 10, 13, 3)
    one = static.clone()
    one[:, :-1, :, 2] = 0.0
    assert not torch.allclose(m(static), m(one))


# ------------------------------------------------------------------ msgcn ablation switches
def _encoder_input(m, x):
    seen = {}
    h = m.enc_joint.register_forward_pre_hook(lambda mod, args: seen.setdefault("feat", args[0]))
    m(x)
    h.remove()
    return seen["feat"]  # (B, T, V, 5)


def test_ablation_single_scale_drops_the_part_graph():
    x = torch.randn(2, 10, 13, 3)
    multi, single = small("msgcn"), small("msgcn", multiscale=False)
    multi(x), single(x)
    assert set(multi.last_fusion) == {"part_from_joint", "joint_from_part"} and single.last_fusion == {}
    with torch.no_grad():
        single.f_pred.weight.normal_(0, 0.1)
        before = single(x)
        for p in single.enc_part.parameters():  # the part scale takes no part in the forecast
            p.add_(1.0)
        torch.testing.assert_close(single(x), before)


def test_ablation_fixed_adjacency_stays_the_skeleton():
    m = small("msgcn", trainable_adjacency=False)
    graphs = [m.enc_joint.gcn1.A, m.enc_joint.gcn2.A, m.enc_part.gcn1.A, m.enc_part.gcn2.A, m.gru.A_H]
    before = [g.detach().clone() for g in graphs]
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    m(torch.randn(4, 10, 13, 3)).square().sum().backward()
    opt.step()
    for g, b in zip(graphs, before):
        assert not g.requires_grad
        torch.testing.assert_close(g.detach(), b)
    torch.testing.assert_close(m.enc_joint.gcn1.A.detach(), m.A_joint_init)
    trainable = small("msgcn")
    assert all(g.requires_grad for g in (trainable.enc_joint.gcn1.A, trainable.gru.A_H))


def test_ablation_no_velocity_inputs():
    x = torch.randn(2, 10, 13, 3)
    assert _encoder_input(small("msgcn"), x)[..., 2:4].abs().sum() > 0  # (B, T, V, 5): pos, vel, m
    assert _encoder_input(small("msgcn", use_velocity=False), x)[..., 2:4].abs().sum() == 0
    m = small("msgcn", use_velocity=False)
    with torch.no_grad():
        m.f_pred.weight.normal_(0, 0.1)
    # the decoder's first input has no velocity either: only positions drive it
    assert torch.isfinite(m(x)).all()


# ------------------------------------------------------------------ loss and the generic training loop
def test_pck_loss_is_mode_seeking_and_masked():
    y = torch.zeros(1, 1, 2, 2)
    thr = torch.tensor([0.05])
    mask = torch.ones(1, 1, 2)
    assert pck_loss(y, y, mask, thr).item() == pytest.approx(0.0, abs=1e-5)
    near, far = y.clone(), y.clone()
    near[..., 0] = 0.05
    far[..., 0] = 1.0
    l_near, l_far = pck_loss(near, y, mask, thr).item(), pck_loss(far, y, mask, thr).item()
    assert 0.3 < l_near < l_far
    # a far joint is nearly saturated (a miss is a miss for PCK) but still has the l2 gradient
    assert l_far == pytest.approx(1.0 + 0.05 * 1.0, abs=1e-3)
    masked = torch.tensor([[[1.0, 0.0]]])
    bad = y.clone()
    bad[0, 0, 1] = 10.0  # only the masked-out joint is wrong
    assert pck_loss(bad, y, masked, thr).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("name", ("msgcn", *NEW))
def test_one_training_loop_trains_every_model(tmp_path, name):
    clips = make_clips(6, seed=1)
    cfg = TrainConfig(model=name, model_kwargs={"hidden": 16}, minutes=0.03, batch=16, eval_every=5,
                      val_fraction=0.25, val_windows=50, threads=1)
    s = train_forecaster(clips, tmp_path, cfg, log=lambda m: None)
    assert s["steps"] >= 1 and s["model"] == name and (tmp_path / f"{name}.pt").is_file()
    fc = Forecaster(tmp_path / f"{name}.pt")
    assert fc.model_name == name
    obs = np.stack([c.keypoints[:10] for c in clips[:3]])  # (3, 10, 13, 2)
    out = fc(obs, 16)
    assert out.shape == (3, 16, 13, 2) and np.isfinite(out).all()
    from sportlens.engine.checkpoint import load_checkpoint

    ck = load_checkpoint(tmp_path / f"{name}.pt")
    assert ck["extra"]["steps"] == s["steps"] and ck["config"]["model"] == name


def test_tempo_copies_add_training_windows_at_other_speeds(tmp_path):
    """``TrainConfig.tempos`` adds the B windows of every training clip played at each speed (protocols.
    tempo_copies: resample_clip per clip, visibility = finite joints, the rate kept); A windows stay native."""
    from sportlens.forecast.protocols import protocol_b_windows, resample_clip, tempo_copies

    clips = make_clips(4, seed=2)
    clips[0].visibility[3, 5] = False
    copies = tempo_copies(clips, (1.0, 0.5, 2.0))  # speed 1 is the clip itself: no copy
    assert [c.name for c in copies] == [f"{c.name}@{sp}" for sp in ("0.5", "2") for c in clips]
    np.testing.assert_allclose(copies[0].keypoints, resample_clip(np.where(
        clips[0].visibility[..., None], clips[0].keypoints, np.nan), 0.5))
    assert not copies[0].visibility[6, 5] and copies[0].visibility.sum() == np.isfinite(copies[0].keypoints[
        ..., 0]).sum() and len(copies[0].keypoints) == 2 * len(clips[0].keypoints) - 1
    logs = []
    cfg = TrainConfig(model="trajgcn", model_kwargs={"hidden": 16}, minutes=0.01, batch=16, eval_every=5,
                      val_fraction=0.25, val_windows=50, tempos=(0.5, 2.0))
    train_forecaster(clips, tmp_path, cfg, log=logs.append)
    tr = [c for c in clips if c.split == "train"]
    tr = [tr[i] for i in np.random.default_rng(0).permutation(len(tr))[2:]]  # train_forecaster's val split: 2
    n_b = len(protocol_b_windows(tr)) + len(protocol_b_windows(tempo_copies(tr, (0.5, 2.0))))
    assert f"B {n_b};" in logs[0] and len(protocol_b_windows(tr)) < n_b


# ------------------------------------------------------------------ the shipped checkpoint
def test_shipped_checkpoint_loads_and_predicts():
    assert SHIPPED_CHECKPOINT.is_file(), "src/sportlens/assets/forecast_msgcn_penn13.pt must ship with the package"
    assert SHIPPED_CHECKPOINT.stat().st_size < 4 * 2**20
    card = SHIPPED_CHECKPOINT.with_suffix(".md")
    assert card.is_file() and "PCK" in card.read_text()
    fc = MsgcnForecaster()  # no path: the shipped model
    assert fc.model_name == "msgcn"
    obs = sinusoid(2, 10) * 100 + 200  # (2, 10, 13, 2) pixels
    obs[0, :, 3] = np.nan  # a joint never seen
    out = fc(obs, 16)
    assert out.shape == (2, 16, 13, 2) and np.isfinite(out[:, :, [0, 1, 2, 4]]).all()
    assert fc(obs[:, -1:], 16).shape == (2, 16, 13, 2)  # protocol A: one observed pose
    from sportlens.forecast.evaluation import make_predictor

    assert isinstance(make_predictor("msgcn"), Forecaster) and isinstance(make_predictor(""), Forecaster)
    assert make_predictor("zero") is zero_velocity


@pytest.mark.slow
def test_shipped_checkpoint_beats_zero_velocity_on_penn_b():
    """Real data: the shipped msgcn beats zero velocity from step 5 (167 ms) on, protocol B test split."""
    from sportlens.data.penn import load_penn_action
    from sportlens.forecast.protocols import evaluate, protocol_b_windows

    clips, _ = load_penn_action(shared_path("data/penn_action/labels"), split="test")
    w = protocol_b_windows(clips[::4])
    ours = evaluate(Forecaster()(w.observed, 16), w)["pck"]
    zero = evaluate(zero_velocity(w.observed, 16), w)["pck"]
    assert all(o > z for o, z in zip(ours[4:], zero[4:]))
