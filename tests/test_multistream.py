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
