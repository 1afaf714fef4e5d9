from __future__ import annotations

import numpy as np
import pytest

from sportlens.skeletons import BLAZEPOSE33, COCO17, LAYOUTS, PENN13, convert, get_skeleton


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_layout_is_consistent(name):
    s = get_skeleton(name)
    assert len(set(s.joints)) == s.num_joints
    assert s.edge_index.max() < s.num_joints
    perm = s.flip_index
    assert sorted(perm) == list(range(s.num_joints)) and (perm[perm] == np.arange(s.num_joints)).all()
    for i, j in s.lr_pairs:
        assert s.joints[i].replace("left_", "") == s.joints[j].replace("right_", "")
    a = s.adjacency()
    assert (a == a.T).all() and np.trace(a) == s.num_joints


def test_sizes():
    assert (BLAZEPOSE33.num_joints, COCO17.num_joints, PENN13.num_joints) == (33, 17, 13)
    assert len(PENN13.lr_pairs) == 6 and len(COCO17.lr_pairs) == 8


def test_blazepose_to_coco_and_penn_by_name():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, (5, 33, 2))
    sc = rng.uniform(0.5, 1, (5, 33))
    coco, coco_sc = convert(kp, sc, "blazepose33", "coco17")
    for j in COCO17.joints:
        assert np.allclose(coco[:, COCO17.index(j)], kp[:, BLAZEPOSE33.index(j)])
    penn, _ = convert(kp, sc, "blazepose33", "penn13")
    assert np.allclose(penn[:, PENN13.index("head")], kp[:, BLAZEPOSE33.index("nose")])
    assert np.allclose(penn[:, PENN13.index("right_ankle")], kp[:, BLAZEPOSE33.index("right_ankle")])


def test_head_falls_back_to_ears_when_nose_missing():
    kp = np.zeros((1, 17, 2))
    kp[0, COCO17.index("left_ear")] = (10, 20)
    kp[0, COCO17.index("right_ear")] = (30, 40)
    kp[0, COCO17.index("nose")] = np.nan
    penn, sc = convert(kp, np.ones((1, 17)), "coco17", "penn13")
    assert penn[0, 0].tolist() == [20, 30] and sc[0, 0] == 1


def test_missing_joints_become_nan_with_zero_score():
    kp = np.random.default_rng(1).uniform(0, 1, (2, 13, 2))
    coco, sc = convert(kp, np.ones((2, 13)), "penn13", "coco17")
    eye = COCO17.index("left_eye")
    assert np.isnan(coco[:, eye]).all() and (sc[:, eye] == 0).all()
    assert np.allclose(coco[:, COCO17.index("nose")], kp[:, 0])  # Penn head stands in for the nose


def test_roundtrip_penn_coco_penn():
    kp = np.random.default_rng(2).uniform(0, 1, (3, 13, 2))
    coco, sc = convert(kp, np.ones((3, 13)), "penn13", "coco17")
    back, _ = convert(coco, sc, "coco17", "penn13")
    assert np.allclose(back, kp)
