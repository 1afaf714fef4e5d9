"""sportlens.data: Penn Action loader, skeleton dataset folder, SportNet transforms, torch dataset."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import scipy.io
import torch
from conftest import shared_path

from sportlens.data import (
    ENCODINGS,
    encode,
    PENN_CLASSES,
    AugmentSettings,
    SkeletonClip,
    SkeletonClipDataset,
    encode_pose,
    estimator_noise,
    hflip,
    joint_dropout,
    kfold_splits,
    load_penn_action,
    load_skeleton_dataset,
    random_crop,
    random_rotation,
    save_skeleton_dataset,
    segment_indices,
    stratified_split,
)
from sportlens.data.transforms import encode_global
from sportlens.errors import InputError
from sportlens.skeletons import COCO17, PENN13

V = PENN13.num_joints


# ---------------------------------------------------------------- Penn Action fixtures
def _penn_mat(path, *, T=6, action="golf_swing", train=1, vis=None, bbox_rows=None, dims=(360, 480)):
    """A .mat shaped like the official ones: x/y float64 (T,13), visibility uint8, bbox (T,4),
    action/pose (1,) str, train int32 (1,1), dimensions uint16 (1,3) = (H,W,T), nframes uint8 (1,1)."""
    rng = np.random.default_rng(T)
    x = 100 + 50 * rng.random((T, V))
    y = 80 + 200 * rng.random((T, V))
    vis = np.ones((T, V), np.uint8) if vis is None else vis.astype(np.uint8)
    bbox = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], axis=1)[: bbox_rows or T]
    scipy.io.savemat(path, {
        "action": np.array([action]), "pose": np.array(["right"]), "x": x, "y": y, "visibility": vis,
        "train": np.array([[train]], np.int32), "bbox": bbox,
        "dimensions": np.array([[dims[0], dims[1], T]], np.uint16), "nframes": np.array([[T]], np.uint8)})


@pytest.fixture
def penn_root(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    _penn_mat(labels / "0001.mat")
    _penn_mat(labels / "0002.mat", action="squat", train=-1, T=5, dims=(270, 480))
    _penn_mat(labels / "0003.mat", vis=np.zeros((4, V)), T=4)  # no visible joint at all
    v = np.ones((7, V))
    v[2] = 0  # one frame without a visible joint
    v[:, 6] = 0  # right wrist never visible
    _penn_mat(labels / "0004.mat", vis=v, T=7, bbox_rows=6)  # and a short bbox
    return tmp_path


def test_penn_loader_on_official_layout(penn_root):
    clips, rep = load_penn_action(penn_root)
    assert [c.name for c in clips] == ["0001", "0002", "0004"]
    assert rep.empty_clips == ["0003"] and rep.clips_with_empty_frames == ["0003", "0004"]
    assert rep.empty_frames == 4 + 1 and rep.short_bbox_clips == ["0004"]
    assert rep.files_per_split == {"train": 3, "test": 1} and rep.frame_sizes == {"480x360": 2, "480x270": 1}
    c = clips[2]
    assert c.keypoints.shape == (7, V, 2) and c.bbox.shape == (7, 4) and c.label == "golf_swing"
    assert c.split == "train" and c.fps == 30.0 and c.meta["width"] == 480 and c.meta["view"] == "right"
    assert np.isnan(c.keypoints[2]).all() and not c.visibility[2].any()
    # the file's "right_wrist" column (6) is the person's LEFT wrist: the loader swaps sides (SWAP_SIDES)
    assert np.isnan(c.keypoints[:, 5]).all() and np.isfinite(c.keypoints[0, 6]).all()
    np.testing.assert_array_equal(c.bbox[6], c.bbox[5])  # padded with the last row
    assert clips[1].split == "test" and clips[1].label == "squat"
    assert [c.name for c in load_penn_action(penn_root, split="test")[0]] == ["0002"]
    assert "0003" in str(rep) and rep.to_dict()["empty_clips"] == ["0003"]


def test_penn_bad_files(penn_root):
    (penn_root / "labels" / "0005.mat").write_bytes(b"not a mat file")
    with pytest.raises(InputError, match="0005.mat"):
        load_penn_action(penn_root)
    clips, rep = load_penn_action(penn_root, strict=False)
    assert len(clips) == 3 and rep.errors[0][0] == "0005.mat"
    (penn_root / "labels" / "0005.mat").unlink()
    (penn_root / "labels" / "0002.mat").unlink()  # a gap in the numbering: incomplete download
    with pytest.raises(InputError, match="0002.mat"):
        load_penn_action(penn_root)
    scipy.io.savemat(penn_root / "labels" / "0002.mat", {"x": np.zeros((3, V))})
    with pytest.raises(InputError, match=r"0002.mat: missing field"):
        load_penn_action(penn_root)
    with pytest.raises(InputError, match="no Penn Action labels"):
        load_penn_action(penn_root / "nowhere")


# counts per class (train, test) from shared/NOTES.md
NOTES_COUNTS = {
    "baseball_pitch": (104, 63), "baseball_swing": (115, 58), "bench_press": (69, 71), "bowl": (135, 85),
    "clean_and_jerk": (43, 45), "golf_swing": (89, 77), "jump_rope": (40, 42), "jumping_jacks": (56, 56),
    "pullup": (98, 101), "pushup": (104, 107), "situp": (50, 50), "squat": (114, 117),
    "strum_guitar": (46, 48), "tennis_forehand": (80, 77), "tennis_serve": (115, 71)}


@pytest.mark.slow
def test_penn_real_annotations():
    root = shared_path("data/penn_action")
    clips, rep = load_penn_action(root)
    assert rep.files == 2326 and rep.files_per_split == {"train": 1258, "test": 1068}
    assert len(rep.empty_clips) == 1 and len(rep.clips_with_empty_frames) == 15
    assert len(rep.short_bbox_clips) == 2 and len(rep.frame_sizes) > 1 and not rep.errors
    assert tuple(sorted(NOTES_COUNTS)) == PENN_CLASSES
    counts = {k: [v.get("train", 0), v.get("test", 0)] for k, v in rep.class_counts.items()}
    for name in rep.empty_clips:  # NOTES.md counts the dropped empty clip too
        m = scipy.io.loadmat(root / "labels" / f"{name}.mat")
        counts[str(m["action"][0])][0 if int(m["train"].ravel()[0]) == 1 else 1] += 1
    assert {k: tuple(v) for k, v in counts.items()} == NOTES_COUNTS
    for c in clips:
        assert c.visibility.any() and np.isfinite(c.bbox).all() and len(c.bbox) == c.num_frames
        assert (np.isnan(c.keypoints) == ~c.visibility[..., None]).all()
    code = SkeletonClipDataset(clips[:200], PENN_CLASSES)[0]["x"]
    assert code.shape == (32, 13, 5) and torch.isfinite(code).all()


# ---------------------------------------------------------------- sec 2.2 segment sampling
def test_segment_indices_formulas():
    # L=10, T=4: segments (1-based) [1,2] [3,5] [6,7] [8,10]; centres 1,4,6,9 -> 0-based
    np.testing.assert_array_equal(segment_indices(10, 4, train=False), [0, 3, 5, 8])
    # L=3, T=8: a = 1,1,1,2,2,2,3,3; b = 0,0,1,1,1,2,2,3; empty segments take a_i
    np.testing.assert_array_equal(segment_indices(3, 8, train=False), [0, 0, 0, 1, 1, 1, 2, 2])
    rng = np.random.default_rng(0)
    lo, hi = np.array([0, 2, 5, 7]), np.array([1, 4, 6, 9])
    draws = np.stack([segment_indices(10, 4, train=True, rng=rng) for _ in range(500)])
    assert ((draws >= lo) & (draws <= hi)).all()
    assert all(set(draws[:, i]) == set(range(lo[i], hi[i] + 1)) for i in range(4))  # uniform over all
    for L in (1, 2, 5, 31, 32, 33, 663):
        for train in (True, False):
            idx = segment_indices(L, 32, train=train, rng=rng)
            assert idx.shape == (32,) and idx.min() >= 0 and idx.max() < L and (np.diff(idx) >= 0).all()
    with pytest.raises(ValueError):
        segment_indices(0, 4, train=False)


def test_random_crop():
    rng = np.random.default_rng(1)
    for _ in range(100):
        s = random_crop(50, (0.8, 1.0), rng)
        assert 40 <= s.stop - s.start <= 50 and 0 <= s.start and s.stop <= 50


# ---------------------------------------------------------------- sec 2.4 pose encoding
def test_encode_pose_exact():
    kp = np.array([[[10.0, 20.0], [30.0, 60.0]],
                   [[12.0, 24.0], [np.nan, np.nan]],
                   [[14.0, 28.0], [40.0, 80.0]]])  # (T=3, V=2, 2)
    vis = np.array([[1, 1], [1, 0], [1, 1]], bool)
    bbox = np.array([[10, 20, 30, 60], [10, 20, 30, 60], [0, 0, 40, 80]], float)  # w,h = 20,40 / 40,80
    code = encode_pose(kp, vis, bbox)
    assert code.shape == (3, 2, 5) and code.dtype == np.float32
    e = 1e-6
    np.testing.assert_allclose(code[0, 0], [0, 0, 0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(code[0, 1], [20 / (20 + e), 40 / (40 + e), 0, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(code[1, 0], [2 / 20, 4 / 40, 2 / 20, 4 / 40, 1], rtol=1e-5)
    np.testing.assert_array_equal(code[1, 1], [0, 0, 0, 0, 0])  # invisible: zeros, mask 0
    np.testing.assert_allclose(code[2, 0], [14 / 40, 28 / 80, 14 / 40 - 0.1, 28 / 80 - 0.1, 1], rtol=1e-5)
    np.testing.assert_allclose(code[2, 1], [1, 1, 0, 0, 1], rtol=1e-5)  # previous frame invisible: no velocity


def test_encode_pose_without_bbox_and_empty_frames():
    kp = np.array([[[0.0, 0.0], [10.0, 20.0]], [[np.nan, np.nan], [np.nan, np.nan]], [[5.0, 5.0], [15.0, 25.0]]])
    vis = np.isfinite(kp).all(-1)
    code = encode_pose(kp, vis, None)  # box = joints +- 10 % of the larger side (2 px)
    np.testing.assert_allclose(code[0, 0, :2], [2 / 14, 2 / 24], rtol=1e-5)
    np.testing.assert_allclose(code[0, 1, :2], [12 / 14, 22 / 24], rtol=1e-5)
    assert (code[1] == 0).all() and np.isfinite(code).all()
    # a degenerate box (one visible joint, as in Penn) must not blow up the code
    bad = np.array([[10, 20, 10, 20], [0, 0, 10, 20], [0, 0, 10, 20]], float)
    assert np.abs(encode_pose(kp, vis, bad)).max() < 10
    assert (encode_pose(np.full((2, 2, 2), np.nan), np.zeros((2, 2), bool), None) == 0).all()


def test_encode_global_keeps_posture_and_body_travel():
    # a 2-joint "body" 40 px long: standing (vertical) in frame 0, lying (horizontal) in frame 1,
    # then the same lying pose moved 20 px right in frame 2
    kp = np.array([[[0.0, 0.0], [0.0, 40.0]], [[0.0, 0.0], [40.0, 0.0]], [[20.0, 0.0], [60.0, 0.0]]])
    vis = np.ones((3, 2), bool)
    sport = encode_pose(kp, vis, None)
    np.testing.assert_allclose(sport[2, :, 2:4], 0, atol=1e-6)  # per-frame box: the travel is invisible
    glob = encode_global(kp, vis, None)
    assert glob.shape == (3, 2, 4) and glob.dtype == np.float32
    # one scale for x and y (median larger box side = 48 px with the 10 % margin): posture survives
    seg = glob[:, 1, :2] - glob[:, 0, :2]
    np.testing.assert_allclose(seg, [[0, 40 / 48], [40 / 48, 0], [40 / 48, 0]], rtol=1e-5)
    np.testing.assert_allclose(glob[2, :, 2], 20 / 48, rtol=1e-5)  # the 20 px travel, both joints
    np.testing.assert_allclose(glob[0, :, 2:], 0)
    full = encode(kp, vis, None, "sportnet_global")
    assert full.shape == (3, 2, ENCODINGS["sportnet_global"])
    np.testing.assert_array_equal(full[..., :5], sport)
    np.testing.assert_array_equal(full[..., 5:], glob)
    np.testing.assert_array_equal(encode(kp, vis, None), sport)
    with pytest.raises(ValueError, match="unknown pose encoding 'nope'"):
        encode(kp, vis, None, "nope")


# ---------------------------------------------------------------- augmentations
def _pose(T=5, seed=0):
    rng = np.random.default_rng(seed)
    kp = 100 + 100 * rng.random((T, V, 2))
    return kp, np.ones((T, V), bool), np.concatenate([kp.min(1), kp.max(1)], axis=1)


def test_hflip():
    kp, vis, box = _pose()
    vis[0, PENN13.index("left_wrist")] = False
    f_kp, f_vis, f_box = hflip(kp, vis, box, 480, "penn13")
    lw, rw = PENN13.index("left_wrist"), PENN13.index("right_wrist")
    np.testing.assert_allclose(f_kp[:, rw, 0], 480 - kp[:, lw, 0])  # left wrist lands in the right slot
    np.testing.assert_allclose(f_kp[:, rw, 1], kp[:, lw, 1])
    assert not f_vis[0, rw] and f_vis[0, lw]
    assert (f_box[:, 2] > f_box[:, 0]).all()
    b_kp, b_vis, b_box = hflip(f_kp, f_vis, f_box, 480, "penn13")
    np.testing.assert_allclose(b_kp, kp)
    np.testing.assert_array_equal(b_vis, vis)
    np.testing.assert_allclose(b_box, box)


def test_rotation_dropout_noise_keep_shapes_and_masks():
    kp, vis, box = _pose(T=40)
    rng = np.random.default_rng(3)
    r_kp, r_box = random_rotation(kp, vis, box, 10, rng)
    assert r_kp.shape == kp.shape and (r_box[:, :2] <= r_kp.min(1) + 1e-9).all()
    # rotation about the centre keeps bone lengths
    np.testing.assert_allclose(np.linalg.norm(r_kp[:, 1] - r_kp[:, 2], axis=-1),
                               np.linalg.norm(kp[:, 1] - kp[:, 2], axis=-1))
    d_kp, d_vis = joint_dropout(kp, vis, 0.5, rng)
    assert 0.3 < 1 - d_vis.mean() < 0.7 and (np.isnan(d_kp).any(-1) == ~d_vis).all()
    n_kp = estimator_noise(kp, vis, "penn13", 0.01, 0.05, rng)
    err = np.linalg.norm(n_kp - kp, axis=-1)
    assert np.median(err) < 5 and err.max() > 20  # small jitter, a few large outliers / swaps
    kp[0, 3] = np.nan
    assert np.isnan(estimator_noise(kp, vis, "penn13", 0.01, 0.5, rng)[0, 3]).all()


# ---------------------------------------------------------------- torch dataset
def _clip(name, label, T=20, split="train", seed=0):
    kp, vis, box = _pose(T, seed)
    return SkeletonClip(name=name, keypoints=kp, visibility=vis, label=label, split=split, bbox=box)


def test_torch_dataset_items():
    clips = [_clip("a", "squat", T=20), _clip("b", "bowl", T=3, seed=1)]
    classes = ("bowl", "squat")
    ev = SkeletonClipDataset(clips, classes, T=8)
    it = ev[0]
    assert it["x"].shape == (8, V, 5) and it["x"].dtype == torch.float32
    assert it["label"].dtype == torch.long and it["label"].ndim == 0 and int(it["label"]) == 1 and it["index"] == 0
    assert torch.equal(ev[1]["x"], ev[1]["x"])  # inference is deterministic
    tr = SkeletonClipDataset(clips, classes, T=8, train=True, augment=AugmentSettings(noise_sigma=0.01), seed=5)
    a, b = tr[0]["x"], tr[0]["x"]
    assert a.shape == (8, V, 5) and torch.isfinite(a).all() and not torch.equal(a, b)
    loader = torch.utils.data.DataLoader(tr, batch_size=2)
    assert next(iter(loader))["x"].shape == (2, 8, V, 5)
    with pytest.raises(ValueError, match="not in classes"):
        SkeletonClipDataset(clips, ("bowl",))


def test_splits():
    clips = [_clip(f"c{i}", ("x", "y", "z")[i % 3]) for i in range(30)]
    tr, va = stratified_split(clips, 0.2, seed=0)
    assert len(va) == 6 and {c.label for c in va} == {"x", "y", "z"}
    assert {c.name for c in tr} | {c.name for c in va} == {c.name for c in clips}
    assert [c.name for c in stratified_split(clips, 0.2, seed=0)[1]] == [c.name for c in va]
    folds = kfold_splits(clips, 5, seed=0)
    assert len(folds) == 5 and sorted(c.name for _, v in folds for c in v) == sorted(c.name for c in clips)


# ---------------------------------------------------------------- skeleton dataset folder
def _analyze_table(T=4):
    """A fake ``keypoints.parquet`` of ``sportlens analyze`` (COCO-17 joint names)."""
    rng = np.random.default_rng(0)
    joints = list(COCO17.joints)
    x = 100 + 50 * rng.random((T, len(joints)))
    x[1, 0] = np.nan  # nose missing in frame 1
    return pd.DataFrame({
        "frame": np.repeat(np.arange(T), len(joints)), "time": np.repeat(np.arange(T) / 25.0, len(joints)),
        "joint": pd.Categorical(np.tile(joints, T), categories=joints), "x": x.ravel(), "y": x.ravel() + 50,
        "score": 0.9, "x_raw": x.ravel(), "y_raw": x.ravel(), "score_raw": 0.9}), x


def test_skeleton_dataset_round_trip(tmp_path):
    clips = [_clip("a", "squat", T=10), _clip("b", "bowl", T=6, split="val", seed=2)]
    clips[0].keypoints[3, 4] = np.nan
    clips[0].visibility[3, 4] = False
    save_skeleton_dataset(clips, tmp_path)
    assert not list(tmp_path.glob(".*"))  # no temp files left
    table, x = _analyze_table()
    table.to_parquet(tmp_path / "vid.parquet", index=False)
    with open(tmp_path / "labels.csv", "a") as f:
        f.write("vid,golf_swing,test,s1\n")
    loaded, rep = load_skeleton_dataset(tmp_path)
    assert [c.name for c in loaded] == ["a", "b", "vid"] and rep.loaded == 3 and not rep.skipped
    np.testing.assert_allclose(loaded[0].keypoints, clips[0].keypoints, rtol=1e-6)
    np.testing.assert_array_equal(loaded[0].visibility, clips[0].visibility)
    assert loaded[1].split == "val" and loaded[0].bbox.shape == (10, 4) and loaded[0].fps == pytest.approx(30)
    v = loaded[2]
    assert v.skeleton == "penn13" and v.keypoints.shape == (4, V, 2) and v.meta["source_skeleton"] == "coco17"
    assert v.fps == pytest.approx(25) and v.subject == "s1" and v.split == "test"
    assert v.visibility[0, 0] and v.keypoints[0, 0, 0] == pytest.approx(x[0, 0])  # head = nose
    # head falls back to the ears' mean where the nose is missing
    assert v.keypoints[1, 0, 0] == pytest.approx(x[1, [3, 4]].mean())
    coco, _ = load_skeleton_dataset(tmp_path, skeleton="coco17")
    assert coco[2].keypoints.shape == (4, 17, 2)
    assert rep.source_skeletons == {"penn13": 2, "coco17": 1} and "3 of 3" in str(rep)


def _write_npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("case, match", [
    ("no_labels", "labels.csv: missing"),
    ("missing_file", "'gone' is listed"),
    ("corrupt", "bad.npz: corrupt"),
    ("split", "split 'training'"),
    ("shape", r"keypoints must be \(T, V, 2\)"),
    ("joints", "skeleton 'penn13' has 13 joints, the arrays have 12"),
    ("empty", "has 0 frames"),
])
def test_skeleton_dataset_bad_input(tmp_path, case, match):
    save_skeleton_dataset([_clip("ok", "squat")], tmp_path)
    rows = {"missing_file": "gone,squat,train,", "corrupt": "bad,squat,train,", "split": "sp,squat,training,",
            "shape": "sh,squat,train,", "joints": "jo,squat,train,", "empty": "em,squat,train,"}
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    _write_npz(tmp_path / "sp.npz", keypoints=np.zeros((3, V, 2)), visibility=np.ones((3, V), bool))
    _write_npz(tmp_path / "sh.npz", keypoints=np.zeros((3, V)), visibility=np.ones((3, V), bool))
    _write_npz(tmp_path / "jo.npz", keypoints=np.zeros((3, 12, 2)), visibility=np.ones((3, 12), bool),
               skeleton=np.array("penn13"))
    _write_npz(tmp_path / "em.npz", keypoints=np.zeros((0, V, 2)), visibility=np.ones((0, V), bool))
    if case == "no_labels":
        (tmp_path / "labels.csv").unlink()
    else:
        with open(tmp_path / "labels.csv", "a") as f:
            f.write(rows[case] + "\n")
    with pytest.raises(InputError, match=match):
        load_skeleton_dataset(tmp_path)
    if case != "no_labels":
        clips, rep = load_skeleton_dataset(tmp_path, strict=False)
        assert [c.name for c in clips] == ["ok"] and len(rep.skipped) == 1
        assert rep.skipped[0][0] == rows[case].split(",")[0] and re.search(match, rep.skipped[0][1])
        assert rep.skipped[0][0] in str(rep)
