"""The learned re-ranking metric of the kNN forecaster (issue 6, ``sportlens.forecast.knn_metric``) on generated
clips: it starts as the hand metric, mines candidates from other clips with exact scores, learns to put the
better futures first, its numpy inference is the torch function, and it survives the index round trip.
(Its effect on Penn Action is measured by ``benchmarks/bench_forecast.py``.)"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from _skeleton_data import make_clips
from sportlens.data import SkeletonClip
from sportlens.forecast.knn import KnnConfig, KnnForecaster
from sportlens.forecast.knn_metric import LearnedMetric, MetricConfig, _gelu, mine_candidates, train_metric
from sportlens.forecast.protocols import protocol_b_windows

KNN = KnnConfig(k=4, tempos=())
METRIC = MetricConfig(candidates=16, hidden=32, anchor_every=3, batch=64, minutes=2.0, max_steps=150, lr=3e-3)


@pytest.fixture(scope="module")
def clips() -> list[SkeletonClip]:
    train = [c for c in make_clips(6, seed=3) if c.split == "train"]
    twin = replace(train[0], name="twin")  # another clip with exactly the same motion
    return train + [twin]


@pytest.fixture(scope="module")
def trained(clips):
    f = KnnForecaster.build(clips, KNN)
    metric, summary = train_metric(f, clips, METRIC)
    return f, metric, summary


def test_untrained_metric_is_the_hand_metric(clips):
    f = KnnForecaster.build(clips, KNN)
    w = protocol_b_windows(clips[1:3])
    plain = f.neighbours(w.observed)
    metric, summary = train_metric(f, clips, replace(METRIC, minutes=0.0))
    assert summary["steps"] == 0
    np.testing.assert_allclose(metric.embed(f.entries["B"].feat), f.entries["B"].feat, atol=1e-6)
    f.set_metric(metric)
    got = f.neighbours(w.observed)
    # the same neighbours, up to exchanges of equally distant ones (float rounding decides those)
    # atol: the square root of float32 cancellation near 0
    np.testing.assert_allclose(np.sort(got["dist"], 1), np.sort(plain["dist"], 1), rtol=1e-4, atol=5e-3)
    assert np.mean([set(a) == set(b) for a, b in zip(got["ids"], plain["ids"])]) > 0.9
    assert f.neighbours(w.observed, rerank=False)["ids"].shape == plain["ids"].shape


def test_mined_candidates_come_from_other_clips_and_score_their_futures(clips):
    f = KnnForecaster.build(clips, KNN)
    data = mine_candidates(f, clips, METRIC)
    n = len(data["q"])
    assert data["cand"].shape == data["score"].shape == data["flipped"].shape == (n, METRIC.candidates)
    assert (f.entry_source["B"][data["cand"]] != data["clip"][:, None]).all()  # never the anchor's own clip
    assert ((data["score"] >= 0) & (data["score"] <= 16 + 1e-4)).all()
    # an anchor of clip 0 finds its twin's same window first, and that future is right at every step
    first = data["clip"] == 0
    assert first.any()
    twin = len(clips) - 1
    assert (f.entry_source["B"][data["cand"][first, 0]] == twin).all()
    np.testing.assert_allclose(data["score"][first, 0], 16.0, atol=1e-4)


def test_metric_learns_to_put_the_better_futures_first(clips, trained):
    f, metric, summary = trained
    assert summary["steps"] == METRIC.max_steps and np.isfinite(summary["loss"])
    data = mine_candidates(f, clips, METRIC)
    np.testing.assert_array_equal(metric.comps, f.entries["B"].comps)  # trained in this index's basis
    emb = metric.embed(f.entries["B"].feat)
    gq = np.where(data["flipped"][..., None], metric.embed(data["qf"])[:, None], metric.embed(data["q"])[:, None])
    learned = np.argsort(((gq - emb[data["cand"]]) ** 2).sum(-1), 1, kind="stable")
    top = KNN.k
    hand_score = data["score"][:, :top].mean()
    learned_score = np.take_along_axis(data["score"], learned[:, :top], 1).mean()
    assert learned_score > hand_score + 0.1, (learned_score, hand_score)


def test_numpy_gelu_is_torchs_tanh_gelu():
    import torch

    x = np.linspace(-6, 6, 101, dtype=np.float32)
    ref = torch.nn.functional.gelu(torch.from_numpy(x), approximate="tanh").numpy()
    np.testing.assert_allclose(_gelu(x), ref, atol=1e-6)


def test_metric_survives_the_index_round_trip(tmp_path, clips, trained):
    f, metric, _ = trained
    f.set_metric(metric)
    try:
        g = KnnForecaster.load(f.save(tmp_path / "knn.npz"))
        assert g.metric is not None and g.metric.candidates == METRIC.candidates
        for k in LearnedMetric.KEYS:
            np.testing.assert_array_equal(g.metric.w[k], metric.w[k])
        w = protocol_b_windows(clips[:2])
        np.testing.assert_allclose(g(w.observed, 16), f(w.observed, 16), atol=0.05)
    finally:
        f.set_metric(None)
    plain = KnnForecaster.load(f.save(tmp_path / "plain.npz"))
    assert plain.metric is None


def test_an_index_with_another_pca_basis_uses_the_metric_exactly(clips, trained):
    """An index with its own PCA basis (here: the components sign-flipped and permuted, the mean moved) ranks
    exactly as the metric's own index."""
    f, metric, _ = trained
    w = protocol_b_windows(clips[1:3])
    f.set_metric(metric)
    want = f.neighbours(w.observed)
    g = KnnForecaster.build(clips, KNN)
    e = g.entries["B"]
    perm = np.random.default_rng(0).permutation(e.comps.shape[1])
    sign = np.where(np.arange(len(perm)) % 2 == 0, 1.0, -1.0).astype(np.float32)
    shift = np.full(e.mean.shape, 0.25, np.float32)
    new_comps = e.comps[:, perm] * sign
    new_feat = (e.feat + (e.mean - (e.mean + shift)) @ e.comps)[:, perm] * sign  # the same points, new basis
    e.comps, e.mean = new_comps, e.mean + shift
    e.feat[:] = new_feat
    e.aug[:, :-1] = new_feat
    e.sqnorm[:] = (new_feat.astype(np.float64) ** 2).sum(1)
    e.aug[:, -1] = e.sqnorm
    g.set_metric(metric)
    got = g.neighbours(w.observed)
    # atol: the square root of float32 cancellation near 0
    np.testing.assert_allclose(np.sort(got["dist"], 1), np.sort(want["dist"], 1), rtol=1e-4, atol=5e-3)
    assert np.mean([set(a) == set(b) for a, b in zip(got["ids"], want["ids"])]) > 0.9
    f.set_metric(None)


def test_bad_metric_weights_and_feature_layouts_are_refused(clips, trained):
    with pytest.raises(ValueError, match="lack w3"):
        LearnedMetric({"w1": np.zeros((2, 2)), "b1": np.zeros(2), "w2": np.zeros((2, 2)), "b2": np.zeros(2),
                       "b3": np.zeros(2), "mean": np.zeros(2), "comps": np.eye(2)})
    _, metric, _ = trained
    other = KnnForecaster.build(clips, replace(KNN, frames_b=(0, 9)))  # fewer values in the search feature
    with pytest.raises(ValueError, match="train the metric again"):
        other.set_metric(metric)


@pytest.mark.slow
def test_train_and_save_a_metric_on_real_penn_action(tmp_path):
    """``python -m sportlens.forecast.knn_metric`` on the real training split (few anchors, a few seconds of
    training): the saved index carries the metric and forecasts real test windows."""
    from conftest import shared_path
    from sportlens.data.penn import load_penn_action
    from sportlens.forecast.knn_metric import main

    root = shared_path("data/penn_action/labels").parent
    with pytest.raises(SystemExit, match="ending in .npz"):
        main([str(root), str(tmp_path / "index.pt")])
    out = tmp_path / "index.npz"
    assert main([str(root), str(out), "0.05", "--anchor-every", "60"]) == 0
    f = KnnForecaster.load(out)
    assert f.metric is not None and f.size["clips"] == 1257
    clips, _ = load_penn_action(root, split="test")
    w = protocol_b_windows(clips[:3])
    pred = f(w.observed, 16)
    assert pred.shape == w.targets.shape and np.isfinite(pred).all()
    assert not list(tmp_path.glob("*.tmp*"))
