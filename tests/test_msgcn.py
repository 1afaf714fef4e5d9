"""MS-GCN pose forecaster (seed 001 sec III C) and its training helpers (fast, CPU, synthetic data)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sportlens.forecast.training import (
    MsgcnForecaster,
    denormalize,
    masked_l2,
    normalize_observed,
    predict_pixels,
)
from sportlens.models import ForecastModel, create_model
from sportlens.models.msgcn import PENN13_PARTS, normalized_adjacency, part_graph
from sportlens.skeletons import PENN13

pytestmark = pytest.mark.usefixtures("one_thread")


def sinusoid(n: int, t: int, seed: int = 0) -> np.ndarray:
    """(n, t, 13, 2) joints oscillating around a fixed pose, random phase/frequency per sequence."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.3, (1, 1, 13, 2))
    amp = rng.uniform(0.02, 0.1, (n, 1, 13, 2))
    freq = rng.uniform(0.1, 0.3, (n, 1, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 13, 2))
    k = np.arange(t)[None, :, None, None]
    return base + amp * np.sin(freq * k + phase)


def small(**kw):
    torch.manual_seed(0)
    return create_model("msgcn", hidden=16, **kw)


def test_shapes_finite_and_interface():
    m = small()
    assert isinstance(m, ForecastModel) and m.num_frames == 10 and m.horizon == 16 and m.num_joints == 13
    x = torch.randn(3, 10, 13, 3)
    x[0, 2, 4] = float("nan")
    y = m(x)
    assert y.shape == (3, 16, 13, 2) and torch.isfinite(y).all()
    assert m(x, horizon=5).shape == (3, 5, 13, 2)
    with pytest.raises(ValueError):
        m(torch.randn(3, 10, 13, 2))


def test_gradients_reach_every_trainable_parameter():
    m = small()
    with torch.no_grad():  # f_pred starts at zero (zero-velocity forecast): move it so gradients flow back
        m.f_pred.weight.normal_(0, 0.1)
    m(torch.randn(4, 10, 13, 3)).square().sum().backward()
    missing = [n for n, p in m.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert not missing


def test_adjacency_initialised_from_the_skeleton():
    m = small()
    a = normalized_adjacency(PENN13.adjacency(self_loops=True))
    for p in (m.enc_joint.gcn1.A, m.enc_joint.gcn2.A, m.gru.A_H):  # eq 8 joint scale, eq 10 A_H
        assert p.requires_grad
        np.testing.assert_allclose(p.detach().numpy(), a)
        assert ((p.detach().numpy() > 0) == PENN13.adjacency(self_loops=True).astype(bool)).all()
    pool, a_part = part_graph(PENN13)
    np.testing.assert_allclose(m.enc_part.gcn1.A.detach().numpy(), normalized_adjacency(a_part))
    assert pool.shape == (len(PENN13_PARTS), 13) and np.allclose(pool.sum(1), 1) and (pool > 0).sum() == 13
    fixed = small(trainable_adjacency=False)
    assert not fixed.enc_joint.gcn1.A.requires_grad and not fixed.gru.A_H.requires_grad


def test_fusion_weights_sum_to_one():
    m = small()
    m(torch.randn(2, 10, 13, 3))
    a_pj, a_jp = m.last_fusion["part_from_joint"], m.last_fusion["joint_from_part"]
    assert a_pj.shape == (2, 6, 13) and a_jp.shape == (2, 13, 6)
    for a in (a_pj, a_jp):
        assert (a >= 0).all() and (a <= 1).all()
        torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]))


def test_ablation_variants_run():
    for kw in (dict(multiscale=False), dict(use_velocity=False)):
        assert small(**kw)(torch.randn(2, 10, 13, 3)).shape == (2, 16, 13, 2)


def overfit_sinusoids(m, horizon: int, lr: float, steps: int) -> tuple[float, float]:
    """Train ``m`` on 4 sinusoid sequences (10 observed, ``horizon`` future); (final loss, zero-velocity loss)."""
    seq = torch.tensor(sinusoid(4, 10 + horizon), dtype=torch.float32)  # (4, 10+H, 13, 2)
    x = torch.cat([seq[:, :10], torch.ones(4, 10, 13, 1)], -1)  # (4, 10, 13, 3)
    y, mask = seq[:, 10:], torch.ones(4, horizon, 13)  # (4, H, 13, 2), (4, H, 13)
    opt = torch.optim.AdamW(m.parameters(), lr=lr)
    zero = masked_l2(x[:, -1:, :, :2].expand(-1, horizon, -1, -1), y, mask).item()  # zero-velocity error
    for _ in range(steps):
        loss = masked_l2(m(x), y, mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item(), zero


def test_overfits_a_tiny_batch_of_sinusoids():
    loss, zero = overfit_sinusoids(small(horizon=8), 8, lr=1e-2, steps=150)
    assert loss < 0.4 * zero


def test_normalize_observed_centre_scale_fill_and_pad():
    obs = np.full((2, 3, 13, 2), np.nan)
    obs[0] = np.arange(13 * 2, dtype=float).reshape(1, 13, 2) * 10  # all visible, static
    obs[1, 0] = obs[0, 0]
    obs[1, 2] = obs[0, 0]
    obs[1, 2, 5] = np.nan  # joint 5 missing at the last frame: filled from frame 0
    x, c, s = normalize_observed(obs, num_frames=5)
    assert x.shape == (2, 5, 13, 3)
    hips = [PENN13.index("left_hip"), PENN13.index("right_hip")]
    np.testing.assert_allclose(c[0], obs[0, -1, hips].mean(0))
    assert s[0] == pytest.approx(np.ptp(obs[0, 0], axis=0).max())
    assert (x[:, :2, :, 2] == 0).all()  # padding has visibility 0
    assert x[1, -1, 5, 2] == 0 and np.allclose(x[1, -1, 5, :2], x[1, 2, 5, :2])
    assert np.isfinite(x).all()
    back = denormalize(x[:, -1:, :, :2].astype(float), c, s)[0, 0]
    np.testing.assert_allclose(back, obs[0, -1], atol=1e-4)  # float32 round trip


def test_predictor_from_checkpoint(tmp_path):
    from sportlens.engine.checkpoint import save_checkpoint

    m = small()
    path = save_checkpoint(tmp_path / "m.pt", model_name="msgcn", model_kwargs={"hidden": 16}, model=m, classes=[],
                           data_spec={}, epoch=0, metrics={}, config={})
    obs = sinusoid(4, 10) * 100 + 200
    obs[0, :, 3] = np.nan
    fc = MsgcnForecaster(path)
    out = fc(obs, 16)
    assert out.shape == (4, 16, 13, 2)
    np.testing.assert_allclose(out, predict_pixels(m, obs, 16), rtol=1e-5)
    # a fresh model predicts zero velocity (f_pred starts at 0): the last observed pose, in pixels
    np.testing.assert_allclose(out[1:, 0], obs[1:, -1], atol=1e-3)
    assert fc(obs[:, -1:], 16).shape == (4, 16, 13, 2)  # protocol A: one observed pose


def test_edge_inference_equals_the_literal_eq9_pair_mlp():
    """The factorised EdgeInference is the same function as f applied to every (v_i, v_j - v_i) pair."""
    from sportlens.models.msgcn import EdgeInference, graph_mix

    torch.manual_seed(0)
    e = EdgeInference(8)
    v = torch.randn(3, 6, 8)  # (B, M, D)
    M = v.shape[1]
    vi = v.unsqueeze(2).expand(-1, -1, M, -1)  # (B, M, M, D)
    vj = v.unsqueeze(1).expand(-1, M, -1, -1)  # (B, M, M, D)
    r = e.f(torch.cat([vi, vj - vi], -1)).sum(2)  # (B, M, D)
    torch.testing.assert_close(e(v), e.g(torch.cat([v, r], -1)), atol=1e-5, rtol=1e-5)
    a, x = torch.randn(6, 6), torch.randn(2, 4, 6, 5)
    torch.testing.assert_close(graph_mix(a, x), torch.matmul(a, x), atol=1e-5, rtol=1e-5)
