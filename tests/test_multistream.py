"""Joint / bone / angle streams: the bone and angle codes on exact geometry, flips, and the
multi-stream ensemble that reads them (fast, CPU)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sportlens.data.transforms import (ENCODINGS, bone_parents, encode, encode_angle, encode_bone, encode_global,
                                       hflip)
from sportlens.models import create_model
from sportlens.models.ensemble import MULTISTREAM_CHANNELS, MULTISTREAM_GROUPS, MULTISTREAM_PRESETS
from sportlens.skeletons import LAYOUTS, get_skeleton

pytestmark = pytest.mark.usefixtures("one_thread")

PENN = get_skeleton("penn13")


def _clip(T: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A moving Penn-13 clip (T, 13, 2) in pixels, every joint visible."""
    rng = np.random.default_rng(seed)
    kp = 200 + 80 * rng.random((1, 13, 2)) + np.cumsum(rng.normal(0, 3, (T, 13, 2)), axis=0)
    return kp, np.ones((T, 13), bool)


def test_penn_bone_tree_follows_the_skeleton_edges_and_is_left_right_symmetric():
    par = bone_parents("penn13")
    j = PENN.index
    assert par[j("head")] == -1 and (par >= 0).sum() == 12
    assert par[j("left_shoulder")] == j("head") and par[j("right_elbow")] == j("right_shoulder")
    assert par[j("left_wrist")] == j("left_elbow") and par[j("right_hip")] == j("right_shoulder")
    assert par[j("left_knee")] == j("left_hip") and par[j("right_ankle")] == j("right_knee")
    edges = {frozenset(e) for e in PENN.edge_index.tolist()}
    assert all(frozenset((k, p)) in edges for k, p in enumerate(par) if p >= 0)  # every bone is an edge
    flip = PENN.flip_index
    assert all(par[flip[k]] == flip[par[k]] for k in range(13) if par[k] >= 0)
    for name in LAYOUTS:  # every layout: a forest over its own edges
        p = bone_parents(name)
        assert len(p) == get_skeleton(name).num_joints and p[0] == -1


def test_bone_code_on_a_known_two_joint_geometry():
    # only the head and the left shoulder are visible: one bone, head -> left shoulder
    T = 3
    kp = np.full((T, 13, 2), np.nan)
    kp[:, 0] = [[100.0, 100.0], [100.0, 100.0], [110.0, 100.0]]  # head
    kp[:, 1] = [[100.0, 140.0], [130.0, 140.0], [130.0, 140.0]]  # left shoulder
    vis = np.isfinite(kp).all(-1)
    code = encode_bone(kp, vis)  # (T, 13, 5)
    assert code.shape == (3, 13, 5) and code.dtype == np.float32
    # the clip-level scale of encode_global: median larger side of the joint boxes (10 % margin each side)
    sides = [40 * 1.2, 40 * 1.2, 40 * 1.2]
    s = float(np.median(sides))
    expected = np.array([[0, 40], [30, 40], [20, 40]]) / s
    np.testing.assert_allclose(code[:, 1, :2], expected, rtol=1e-5)
    np.testing.assert_allclose(code[:, 1, 2:4], [[0, 0], [30 / s, 0], [-10 / s, 0]], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(code[:, 1, 4], 1.0)
    assert not code[:, [0, *range(2, 13)]].any()  # the root and bones with a hidden end are 0, mb 0
    # the same scale as the joints of encode_global: a bone is the difference of two global positions
    glob = encode_global(kp, vis)
    np.testing.assert_allclose(code[:, 1, :2], glob[:, 1, :2] - glob[:, 0, :2], rtol=1e-5, atol=1e-6)


def test_angle_code_on_a_known_geometry():
    # head (0,0), left shoulder (0,10), left elbow (10,10): the shoulder bone points down (+y), the
    # upper arm to the right; joint angle at the shoulder: from +y to +x = -90 degrees (y down)
    kp = np.full((2, 13, 2), np.nan)
    kp[:, PENN.index("head")] = [0.0, 0.0]
    kp[:, PENN.index("left_shoulder")] = [0.0, 10.0]
    kp[:, PENN.index("left_elbow")] = [10.0, 10.0]
    vis = np.isfinite(kp).all(-1)
    code = encode_angle(kp, vis)
    sh, el = PENN.index("left_shoulder"), PENN.index("left_elbow")
    np.testing.assert_allclose(code[0, sh], [0, 1, 0, 0, 1], atol=1e-6)  # direction only: no parent bone
    np.testing.assert_allclose(code[0, el], [1, 0, 0, -1, 1], atol=1e-6)  # cos q = 0, sin q = -1
    assert not code[:, 0].any() and not code[:, PENN.index("left_wrist")].any()
    # scale- and rotation-free: rotating the pose only moves the direction, not the joint angle
    th = np.deg2rad(30)
    R = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    rot = encode_angle(np.where(vis[..., None], 3 * kp @ R.T, np.nan), vis)
    np.testing.assert_allclose(rot[..., 2:], code[..., 2:], atol=1e-6)


def test_flip_swaps_left_and_right_bones_and_mirrors_them():
    kp, vis = _clip()
    vis[2, 5] = False  # a hidden left wrist
    kp[2, 5] = np.nan
    f_kp, f_vis, _ = hflip(kp, vis, None, 640.0, "penn13")
    flip = PENN.flip_index
    a, b = encode_bone(kp, vis), encode_bone(f_kp, f_vis)
    mirror = np.array([-1, 1, -1, 1, 1], np.float32)  # x and dx change sign
    np.testing.assert_allclose(b, a[:, flip] * mirror, rtol=1e-5, atol=1e-6)
    a, b = encode_angle(kp, vis), encode_angle(f_kp, f_vis)
    mirror = np.array([-1, 1, 1, -1, 1], np.float32)  # cos a -> -cos a; the joint angle changes sign
    np.testing.assert_allclose(b, a[:, flip] * mirror, rtol=1e-5, atol=1e-6)


def test_multistream_encoding_concatenates_the_views():
    kp, vis = _clip(T=5, seed=1)
    code = encode(kp, vis, None, "multistream")
    assert code.shape == (5, 13, ENCODINGS["multistream"]) and ENCODINGS["multistream"] == MULTISTREAM_CHANNELS
    np.testing.assert_array_equal(code[..., :9], encode(kp, vis, None, "sportnet_global"))
    np.testing.assert_array_equal(code[..., 9:14], encode(kp, vis, None, "bone"))
    np.testing.assert_array_equal(code[..., 14:], encode(kp, vis, None, "angle"))
    assert np.isfinite(code).all()
    empty = encode(np.full((4, 13, 2), np.nan), np.zeros((4, 13), bool), None, "multistream")
    assert empty.shape == (4, 13, 19) and not empty.any()  # a clip with no visible joint is all zeros


def test_bone_code_needs_a_known_layout():
    with pytest.raises(ValueError, match="no skeleton layout has 7 joints"):
        encode_bone(np.zeros((2, 7, 2)), np.ones((2, 7), bool))


def test_multistream_model_streams_read_their_channel_groups():
    m = create_model("tcn_multistream", num_classes=4, in_channels=19, num_frames=8, width=16,
                     streams="jgba").eval()
    assert [tuple(g) for g in m.streams] == [MULTISTREAM_GROUPS[n] for n in MULTISTREAM_PRESETS["jgba"]]
    x = torch.randn(2, 8, 13, 19)
    with torch.no_grad():
        z = m.member_logits(x)
        assert z.shape == (2, 4, 4)
        torch.testing.assert_close(z[:, 2], m.members[2](x[..., 9:14]))
        torch.testing.assert_close(m(x).softmax(-1), z.softmax(-1).mean(1))
    assert len(create_model("tcn_multistream", in_channels=19, width=16).members) == 3  # default "jgb"
    assert create_model("tcn_multistream", in_channels=19, width=16).streams[2] == list(range(9, 14))
    other = create_model("tcn_multistream", in_channels=5, width=16)  # other inputs: every stream, all channels
    assert other.streams == [list(range(5))] * 3
    with pytest.raises(ValueError, match="unknown streams preset"):
        create_model("tcn_multistream", in_channels=19, streams="xyz")


# ---------------------------------------------------------------- flip test-time augmentation
def _penn_clips(n: int = 3):
    from sportlens.data.clips import SkeletonClip

    return [SkeletonClip(name=f"c{i}", keypoints=_clip(T=12, seed=i)[0], visibility=_clip(T=12, seed=i)[1],
                         label=("bowl", "squat")[i % 2], split="test") for i in range(n)]


def test_flip_view_is_the_code_of_the_mirrored_clip():
    from sportlens.data.torch_dataset import SkeletonClipDataset
    from sportlens.data.transforms import segment_indices

    clips = _penn_clips()
    ds = SkeletonClipDataset(clips, ("bowl", "squat"), T=8, encoding="multistream", flip_view=True)
    item = ds[1]
    kp, vis, _ = hflip(clips[1].keypoints, clips[1].visibility, None, 123.0, "penn13")
    want = encode(kp, vis, None, "multistream")[segment_indices(12, 8, train=False)]
    np.testing.assert_allclose(item["x_flip"].numpy(), want, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(item["x"], SkeletonClipDataset(clips, ("bowl", "squat"), T=8,
                                                              encoding="multistream")[1]["x"])
    assert not torch.equal(item["x"], item["x_flip"])
    with pytest.raises(ValueError, match="test-time augmentation"):
        SkeletonClipDataset(clips, ("bowl", "squat"), train=True, flip_view=True)


def test_tasks_average_the_probabilities_of_both_views():
    from sportlens.engine.tasks import ClassificationTask, StreamEnsembleTask

    torch.manual_seed(0)
    m = create_model("tcn_multistream", num_classes=4, in_channels=19, num_frames=8, width=16).eval()
    x, xf = torch.randn(2, 8, 13, 19), torch.randn(2, 8, 13, 19)
    plain, both = {"x": x, "label": torch.tensor([0, 3])}, {"x": x, "x_flip": xf, "label": torch.tensor([0, 3])}
    with torch.no_grad():
        want = (m(x).softmax(-1) + m(xf).softmax(-1)) / 2  # (B, K)
        for task in (ClassificationTask(), StreamEnsembleTask()):
            got = task.predict(task.forward(m, both))
            torch.testing.assert_close(got, want)
            torch.testing.assert_close(task.predict(task.forward(m, plain)), m(x).softmax(-1))
            assert torch.isfinite(task.loss(task.forward(m, both), both))
        assert StreamEnsembleTask().forward(m, both).shape == (2, 6, 4)  # 3 streams x 2 views


def test_evaluate_checkpoint_honours_and_overrides_flip_tta(tmp_path, monkeypatch):
    """A checkpoint trained with data.tta_flip evaluates with it (recorded in data_spec); --no-tta-flip turns it
    off; the Recognizer used by analyze classifies as the checkpoint was evaluated."""
    from sportlens.engine import experiment
    from sportlens.engine.fit import FitSettings
    from sportlens.recognize import Recognizer

    clips = _penn_clips(6)
    for c in clips[:4]:
        c.split = "train"
    monkeypatch.setattr(experiment, "load_clips", lambda data: (clips, ["bowl", "squat"], "fixture"))
    cfg = experiment.TrainConfig(model="tcn_multistream", model_kwargs={"width": 8}, task="stream_ensemble",
                                 data=experiment.DataSettings(encoding="multistream", num_frames=8, tta_flip=True,
                                                              val_fraction=0.0, batch_size=4),
                                 fit=FitSettings(epochs=1), out_dir=str(tmp_path), name="r")
    run = experiment.run_training(cfg)
    spec = torch.load(run / "best.pt", weights_only=False)["data_spec"]
    assert spec["tta_flip"] is True
    seen = []
    real = experiment.make_loader
    monkeypatch.setattr(experiment, "make_loader", lambda *a, **k: seen.append(a[2].tta_flip) or real(*a, **k))
    experiment.evaluate_checkpoint(run / "best.pt")
    experiment.evaluate_checkpoint(run / "best.pt", tta_flip=False)
    assert seen == [True, False]
    rec = Recognizer(run / "best.pt")
    assert rec.tta_flip
    from sportlens.config import RecognitionSettings
    from sportlens.types import PoseTrack

    kp = np.concatenate([_clip(T=30, seed=s)[0] for s in range(2)])  # (60, 13, 2)
    track = PoseTrack(kp, np.ones(kp.shape[:2]), np.arange(60) / 30.0, "penn13")
    settings = RecognitionSettings(min_motion=0.0)
    spans, both = rec.window_probs(track, settings)
    rec.tta_flip = False
    _, plain = rec.window_probs(track, settings)
    f_kp, f_vis, _ = hflip(kp, np.ones((60, 13), bool), None, 0.0, "penn13")
    _, mirrored = rec.window_probs(PoseTrack(f_kp, np.ones((60, 13)), track.times, "penn13"), settings)
    assert len(spans) > 0
    np.testing.assert_allclose(both, (plain + mirrored) / 2, rtol=1e-5, atol=1e-6)
