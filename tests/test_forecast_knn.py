"""The kNN ("motion matching") forecaster of issue 6 (``sportlens.forecast.knn``) on generated sequences
whose nearest training window, and so the forecast, is known exactly; aggregations, tempo resampling and the
neighbour filters (clip limit, action vote) by hand; the index save/load round trip (tempo copies rebuilt).
(Speed is measured by ``benchmarks/bench_forecast.py``, not tested.)"""
from __future__ import annotations

import numpy as np
import pytest

from _skeleton_data import make_clips
from sportlens.data import SkeletonClip
from sportlens.forecast.knn import KnnConfig, KnnForecaster, aggregate
from sportlens.forecast.protocols import evaluate, protocol_a_windows, protocol_b_windows
from sportlens.skeletons import PENN13

FLIP = np.asarray(PENN13.flip_index)


@pytest.fixture(scope="module")
def clips() -> list[SkeletonClip]:
    return [c for c in make_clips(6, seed=3) if c.split == "train"]


def exact(**kw) -> KnnConfig:
    """k = 1 and no filter or tempo copy: an index window is its own only neighbour."""
    return KnnConfig(**{"k": 1, "k_a": None, "agg": "mean", "agg_a": None, "flip": False, "tempos": (),
                        "max_per_clip_a": None, **kw})


def mirror(kp: np.ndarray, width: float = 500.0) -> np.ndarray:
    """Mirror (..., V, 2) pixel poses in the image (x -> width - x) and name the sides again."""
    out = kp[..., FLIP, :].copy()
    out[..., 0] = width - out[..., 0]
    return out


def test_protocol_b_window_from_the_index_gets_its_own_future(clips):
    f = KnnForecaster.build(clips, exact())
    w = protocol_b_windows(clips[:1])
    pred = f(w.observed[::7], 16)
    np.testing.assert_allclose(pred, w.targets[::7], atol=1e-3)


def test_forecast_follows_a_moved_and_scaled_query(clips):
    """normalize_observed makes the search invariant to position and size: the forecast of a shifted,
    twice as large copy of an index window is that window's future, shifted and scaled the same way."""
    f = KnnForecaster.build(clips, exact())
    w = protocol_b_windows(clips[1:2])
    obs, tgt = w.observed[::5], w.targets[::5]
    pred = f(obs * 2.0 + np.array([40.0, -15.0]), 16)
    np.testing.assert_allclose(pred, tgt * 2.0 + np.array([40.0, -15.0]), atol=2e-3)


def test_protocol_a_one_pose_gets_the_future_at_the_index_clip_stride(clips):
    f = KnnForecaster.build(clips, exact())
    c = clips[2]
    w = protocol_a_windows([c])  # stride max(1, (T - 1) // 17) of this clip, past the end = last frame
    pred = f(w.observed[::3], 16)
    np.testing.assert_allclose(pred, w.targets[::3], atol=1e-3)
    # the one-pose path uses the A entries, whose futures are strided: not the native-rate B futures
    assert w.step_frames[0] > 1


def test_mirrored_query_is_answered_by_the_mirrored_future(clips):
    f = KnnForecaster.build(clips, exact(flip=True))
    w = protocol_b_windows(clips[:1])
    obs, tgt = mirror(w.observed[::6]), mirror(w.targets[::6])
    nb = f.neighbours(obs)
    assert nb["flipped"][:, 0].all() and np.allclose(nb["dist"][:, 0], 0.0, atol=1e-2)  # float32 search
    np.testing.assert_allclose(f(obs, 16), tgt, atol=1e-3)
    no_flip = KnnForecaster.build(clips, exact(flip=False))
    assert not np.allclose(no_flip(obs, 16), tgt, atol=1e-3)  # the generated motions are not symmetric


def test_invisible_joints_are_filled_and_neighbour_gaps_left_out(clips):
    cs = [SkeletonClip(name=c.name, keypoints=c.keypoints.copy(), visibility=c.visibility.copy(), label=c.label,
                       split=c.split, skeleton=c.skeleton, fps=c.fps) for c in clips]
    cs[0].visibility[:, PENN13.index("head")] = False  # a joint never seen in one index clip
    f = KnnForecaster.build(cs, KnnConfig(k=4, agg="median"))
    w = protocol_b_windows(clips[:2])
    obs = w.observed.copy()
    obs[:, -1, PENN13.index("left_wrist")] = np.nan  # missing in the last observed frame of the query
    pred = f(obs, 16)
    assert np.isfinite(pred).all()
    assert evaluate(pred, w)["pck"][0] > 0.9


def test_horizon_shorter_and_longer_than_the_index(clips):
    f = KnnForecaster.build(clips, exact())
    w = protocol_b_windows(clips[:1])
    full = f(w.observed[:3], 16)
    np.testing.assert_allclose(f(w.observed[:3], 5), full[:, :5])
    long = f(w.observed[:3], 20)
    np.testing.assert_allclose(long[:, :16], full)
    np.testing.assert_allclose(long[:, 16:], np.repeat(full[:, -1:], 4, 1))


def test_aggregations_by_hand():
    # one query, 3 neighbours, 1 step, 1 joint: residual x values 0, 1, 10 (y = 0)
    r = np.zeros((1, 3, 1, 1, 2))
    r[0, :, 0, 0, 0] = [0.0, 1.0, 10.0]
    d = np.array([[1.0, 1.0, 1.0]])
    assert aggregate(r, d, "mean")[0, 0, 0, 0] == pytest.approx(11 / 3)
    assert aggregate(r, d, "median")[0, 0, 0, 0] == pytest.approx(1.0)
    assert aggregate(r, d, "medoid")[0, 0, 0, 0] == pytest.approx(1.0)  # mean distance 5.5 vs 5.0 vs 9.5
    assert aggregate(r, d, "mode", mode_sigma=2.0)[0, 0, 0, 0] in (0.0, 1.0)  # the dense pair, not 10
    # equal distances: the weighted mean is the mean; a far neighbour weighs less
    assert aggregate(r, d, "wmean")[0, 0, 0, 0] == pytest.approx(11 / 3)
    assert aggregate(r, np.array([[1.0, 1.0, 5.0]]), "wmean")[0, 0, 0, 0] < 11 / 3
    # weighted median: equal weights -> the median; the near neighbour alone outweighs two far ones
    assert aggregate(r, d, "wmedian")[0, 0, 0, 0] == pytest.approx(1.0)
    assert aggregate(r, np.array([[0.1, 3.0, 3.0]]), "wmedian")[0, 0, 0, 0] == pytest.approx(1.0)
    assert aggregate(r, np.array([[1.0, 9.0, 0.2]]), "wmedian")[0, 0, 0, 0] == pytest.approx(10.0)
    # an unknown (NaN) neighbour joint is left out; no neighbour at all -> NaN
    r[0, 2] = np.nan
    for agg in ("mean", "wmean", "median", "wmedian", "medoid", "mode"):
        assert aggregate(r, d, agg, mode_sigma=0.1)[0, 0, 0, 0] in (0.0, 0.5, 1.0), agg
    assert np.isnan(aggregate(np.full((1, 2, 1, 1, 2), np.nan), d[:, :2], "median")).all()
    with pytest.raises(ValueError):
        aggregate(r, d, "nope")


def test_index_round_trip(tmp_path, clips):
    cfg = KnnConfig(k=3, agg="median", vel_weight=1.5, frames_b=(0, 2, 9))
    f = KnnForecaster.build(clips, cfg)
    path = f.save(tmp_path / "knn.npz")
    g = KnnForecaster.load(path)
    assert g.cfg == cfg and g.size == f.size
    np.testing.assert_array_equal(np.isfinite(g.frames), np.isfinite(f.frames))
    # frames are stored as uint16 inside each clip's box: error <= half a quantisation step
    span = max(np.ptp(c.keypoints[..., i]) for c in clips for i in (0, 1))
    assert np.nanmax(np.abs(g.frames - f.frames)) <= span / 131070 + 1e-3
    w = protocol_b_windows(clips[:2])
    a, b = f(w.observed, 16), g(w.observed, 16)
    np.testing.assert_allclose(a, b, atol=0.05)
    assert KnnForecaster.load(path, k=7).cfg.k == 7


def test_make_knn_predictor_from_an_index_and_bad_input(tmp_path, clips):
    from sportlens.errors import InputError
    from sportlens.forecast.knn import BlendForecaster, make_knn_predictor

    path = KnnForecaster.build(clips, exact()).save(tmp_path / "knn.npz")
    knn = make_knn_predictor("knn", index=path)
    w = protocol_b_windows(clips[:1])
    np.testing.assert_allclose(knn(w.observed[:4], 16), w.targets[:4], atol=0.05)
    with pytest.raises(InputError):
        make_knn_predictor("knn")  # neither data nor index
    with pytest.raises(InputError):
        make_knn_predictor("knn+lstm", index=path)
    # the blend: weight * knn + (1 - weight) * other, weight per protocol
    zero = lambda obs, h: np.repeat(np.asarray(obs)[:, -1:], h, 1)  # noqa: E731
    blend = BlendForecaster(knn, zero, {"A": 1.0, "B": 0.25})
    np.testing.assert_allclose(blend(w.observed[:4], 16), 0.25 * knn(w.observed[:4], 16)
                               + 0.75 * zero(w.observed[:4], 16))
    one = w.observed[:4, -1:]
    np.testing.assert_allclose(blend(one, 16), knn(one, 16))


def test_resample_clip_interpolates_and_takes_visibility_from_the_nearest_frame():
    from sportlens.forecast.knn import resample_clip

    f = np.zeros((5, 2, 2))  # (T, V, 2): joint 0 moves x = 10 t; joint 1 is missing at frame 2
    f[:, :, 0] = 10.0 * np.arange(5)[:, None]
    f[2, 1] = np.nan
    slow = resample_clip(f, 0.75)  # source times 0, .75, 1.5, 2.25, 3, 3.75
    assert slow.shape == (6, 2, 2)
    np.testing.assert_allclose(slow[:, 0, 0], [0.0, 7.5, 15.0, 22.5, 30.0, 37.5])
    # joint 1: nearest frame of 1.5 and 2.25 is 2 (missing) -> NaN; of 0.75 it is 1, both sides seen -> linear
    np.testing.assert_array_equal(np.isnan(slow[:, 1, 0]), [False, False, True, True, False, False])
    assert slow[1, 1, 0] == pytest.approx(7.5)
    fast = resample_clip(f, 2.0)  # source times 0, 2, 4
    np.testing.assert_allclose(fast[:, 0, 0], [0.0, 20.0, 40.0])
    np.testing.assert_allclose(resample_clip(f, 1.0), f)


def test_tempo_copies_answer_a_query_played_at_another_speed(clips, tmp_path):
    """A window of a clip played at half speed is in the index only through its tempo copy: its forecast is
    that copy's (half-speed) future, not the native-speed one; save/load rebuilds the copies."""
    from sportlens.forecast.knn import resample_clip

    c = clips[0]
    slow = SkeletonClip(name="slow", keypoints=resample_clip(c.keypoints, 0.5), visibility=np.ones(
        (len(resample_clip(c.keypoints, 0.5)), PENN13.num_joints), bool), label=c.label, split=c.split,
        skeleton=c.skeleton, fps=c.fps)
    w = protocol_b_windows([slow])
    f = KnnForecaster.build(clips, exact(tempos=(0.5,), tempo_step=1))
    np.testing.assert_allclose(f(w.observed[::9], 16), w.targets[::9], atol=1e-3)
    assert not np.allclose(KnnForecaster.build(clips, exact())(w.observed[::9], 16), w.targets[::9], atol=1e-3)
    assert f.size["tempo_copy_frames"] == sum(len(resample_clip(x.keypoints, 0.5)) for x in clips)
    # protocol A entries come from the source clips only (tempo_protocols="B")
    assert f.size["entries_A"] == sum(len(x.keypoints) for x in clips)
    half = KnnForecaster.build(clips, exact(tempos=(0.5,), tempo_step=2))  # every 2nd start of a copy
    n_src = sum(max(len(x.keypoints) - 25, 0) for x in clips)  # B windows: T - 10 - 16 + 1
    n_copy = [max(len(resample_clip(x.keypoints, 0.5)) - 25, 0) for x in clips]
    assert f.size["entries_B"] == n_src + sum(n_copy)
    assert half.size["entries_B"] == n_src + sum((n + 1) // 2 for n in n_copy)
    g = KnnForecaster.load(f.save(tmp_path / "knn.npz"))
    assert g.size == f.size and g.cfg == f.cfg
    assert list(g.labels) == [x.label for x in clips]


def test_neighbour_filters_by_hand():
    # at most m per source clip, nearest first
    src = np.array([[3, 1, 3, 3, 2, 1, 3]])
    np.testing.assert_array_equal(KnnForecaster._per_clip(src, 2)[0], [1, 1, 1, 0, 1, 1, 0])
    # the action most frequent among the nearest `votes` valid candidates (-1 = filtered out, no vote)
    lab = np.array([[0, 1, 1, -1, 0, 2, 0]])
    np.testing.assert_array_equal(KnnForecaster._majority(lab, 3)[0], lab[0] == 1)
    np.testing.assert_array_equal(KnnForecaster._majority(lab, 5)[0], lab[0] == 0)  # 2 - 2 tie: the nearer
    np.testing.assert_array_equal(KnnForecaster._majority(np.array([[1, 0, 0, 1]]), 2)[0], [1, 0, 0, 1])


def test_label_vote_keeps_the_neighbours_of_the_majority_action(clips):
    """Two actions in the index; with the vote every kept neighbour is of the majority action and the
    result still has k columns (invalid ones NaN in the residuals)."""
    f = KnnForecaster.build(clips, KnnConfig(k=8, label_vote=True, pool=4, max_per_clip=3))
    w = protocol_b_windows(clips[:1])
    nb = f.neighbours(w.observed[::4])
    assert nb["ids"].shape == (len(w.observed[::4]), 8)
    lab = f.entry_label["B"][nb["ids"]]
    for row, ok in zip(lab, nb["valid"]):
        assert len(set(row[ok])) == 1
    src = f.entry_source["B"][nb["ids"]]
    for row, ok in zip(src, nb["valid"]):
        assert np.bincount(row[ok]).max() <= 3
    r = f.residuals("B", nb["ids"], nb["flipped"], nb["valid"])
    assert np.isnan(r[~nb["valid"]]).all()
    assert np.isfinite(f(w.observed[::4], 16)).all()
