"""Video datasets: the rendered synthetic set, the official-layout loaders (on fixture trees made here),
and ``VideoClipDataset`` items (the ``VideoModel`` batch contract)."""
from __future__ import annotations

import pickle
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
import torch
from _media import make_video

from sportlens.data.synthetic_video import (
    SYNTHETIC_CLASSES,
    SyntheticVideoSpec,
    make_synthetic_dataset,
    render_clip,
    render_frames,
    write_synthetic_videos,
)
from sportlens.data.transforms import encode_pose, segment_indices
from sportlens.data.video_datasets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VideoClipDataset,
    VideoSample,
    load_hmdb51,
    load_penn_action_frames,
    load_ucf101,
    load_video_folder,
)
from sportlens.errors import InputError
from sportlens.skeletons import PENN13

V = PENN13.num_joints
FLIP = PENN13.flip_index


# ---------------------------------------------------------------- synthetic generator
def test_synthetic_is_deterministic_and_well_formed():
    spec = SyntheticVideoSpec(num_classes=6, clips_per_class=4, frames=(24, 32), size=(112, 112), seed=3)
    a, b = render_clip(spec, 4, 1), render_clip(spec, 4, 1)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.keypoints, b.keypoints)
    L = len(a.frames)
    assert 24 <= L <= 32 and a.frames.shape == (L, 112, 112, 3) and a.frames.dtype == np.uint8
    assert a.keypoints.shape == (L, V, 2) and a.visibility.shape == (L, V) and a.visibility.dtype == bool
    assert a.bbox.shape == (L, 4) and a.label == SYNTHETIC_CLASSES[4] == "golf_swing"
    vis = a.visibility
    assert (a.keypoints[..., 0][vis] >= a.bbox[:, None, 0].repeat(V, 1)[vis]).all()  # box holds the joints
    assert (a.keypoints[..., 1][vis] <= a.bbox[:, None, 3].repeat(V, 1)[vis]).all()
    other = render_clip(SyntheticVideoSpec(num_classes=6, clips_per_class=4, frames=(24, 32), size=(112, 112),
                                           seed=4), 4, 1)
    assert other.frames.shape != a.frames.shape or not np.array_equal(other.frames, a.frames)
    assert not np.array_equal(render_clip(spec, 4, 2).keypoints[:5], a.keypoints[:5])


def test_synthetic_render_speed():
    spec = SyntheticVideoSpec(num_classes=8, frames=(32, 32), size=(112, 112), seed=1)
    best = []
    for c in range(8):
        t0 = time.perf_counter()
        render_frames(spec, c, 0)
        best.append(time.perf_counter() - t0)
    # target: well under 50 ms per 32-frame clip; generous bound for a loaded CI machine
    assert np.median(best) < 0.1, f"median render time {np.median(best) * 1000:.1f} ms"


def test_synthetic_keypoints_lie_on_the_figure():
    spec = SyntheticVideoSpec(num_classes=8, frames=(16, 20), size=(96, 96), seed=7)
    hits, total = 0, 0
    for c in range(8):
        for k in range(2):
            s = render_clip(spec, c, k)
            bg = render_frames(spec, c, k, with_figure=False)
            diff = np.abs(s.frames.astype(int) - bg.astype(int)).mean(-1)  # (L, H, W)
            for t in range(len(s.frames)):
                for j in np.flatnonzero(s.visibility[t]):
                    x, y = np.rint(s.keypoints[t, j]).astype(int)
                    total += 1
                    hits += diff[t, y, x] > 20
    assert total > 1000 and hits / total > 0.97, f"{hits}/{total} joints on the drawn figure"


def _clip_features(s: VideoSample) -> np.ndarray:
    """Mirror-invariant per-joint statistics of the SportNet code (a tiny hand-made classifier)."""
    code = encode_pose(s.keypoints, s.visibility, s.bbox)  # (L, V, 5)
    x, y = code[..., 0], code[..., 1]
    sym = np.abs(x - 0.5)
    return np.concatenate([y.mean(0), y.std(0), x.std(0), sym.mean(0), (sym.std(0))])


def test_synthetic_classes_differ():
    spec = SyntheticVideoSpec(num_classes=8, clips_per_class=8, frames=(24, 40), size=(96, 96), seed=11)
    samples = make_synthetic_dataset(spec)
    F = np.stack([_clip_features(s) for s in samples])
    y = np.array([SYNTHETIC_CLASSES.index(s.label) for s in samples])
    correct = 0
    for i in range(len(F)):  # leave-one-out nearest centroid
        keep = np.arange(len(F)) != i
        cent = np.stack([F[keep & (y == c)].mean(0) for c in range(8)])
        correct += int(np.argmin(((cent - F[i]) ** 2).sum(1)) == y[i])
    assert correct / len(F) > 0.8, f"nearest-centroid accuracy {correct / len(F):.2f}"


def test_make_synthetic_dataset_is_lazy_split_and_picklable():
    spec = SyntheticVideoSpec(num_classes=3, clips_per_class=20, frames=(8, 12), size=(48, 64), seed=2)
    samples = make_synthetic_dataset(spec)
    assert len(samples) == 60 and all(callable(s.frames) for s in samples)
    for c in spec.classes:
        splits = [s.split for s in samples if s.label == c]
        assert (splits.count("train"), splits.count("val"), splits.count("test")) == (14, 3, 3)
    s = pickle.loads(pickle.dumps(samples[25]))  # DataLoader workers may pickle samples
    ref = render_clip(spec, 1, 5)
    assert s.name == ref.name and np.array_equal(s.load_frames(), ref.frames)
    assert np.array_equal(s.load_frames([0, 2]), ref.frames[[0, 2]])
    with pytest.raises(ValueError):
        SyntheticVideoSpec(num_classes=9)


# ---------------------------------------------------------------- Penn Action frames
def _penn_tree(root: Path, n: int = 3, T: int = 5, size=(48, 64)) -> Path:
    """labels/NNNN.mat in the official field layout + frames/NNNN/NNNNNN.jpg (tiny JPEGs)."""
    H, W = size
    (root / "labels").mkdir(parents=True)
    actions = ["golf_swing", "squat", "tennis_serve"]
    for c in range(1, n + 1):
        rng = np.random.default_rng(c)
        x = 20 + 20 * rng.random((T, V))
        y = 10 + 30 * rng.random((T, V))
        bbox = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], axis=1)
        scipy.io.savemat(root / "labels" / f"{c:04d}.mat", {
            "action": np.array([actions[(c - 1) % 3]]), "pose": np.array(["front"]), "x": x, "y": y,
            "visibility": np.ones((T, V), np.uint8), "train": np.array([[1 if c % 2 else -1]], np.int32),
            "bbox": bbox, "dimensions": np.array([[H, W, T]], np.uint16), "nframes": np.array([[T]], np.uint8)})
        d = root / "frames" / f"{c:04d}"
        d.mkdir(parents=True)
        for t in range(1, T + 1):
            cv2.imwrite(str(d / f"{t:06d}.jpg"), np.full((H, W, 3), 40 * t % 256, np.uint8))
    return root


def test_penn_frames_loader_and_items(tmp_path):
    root = _penn_tree(tmp_path / "penn")
    samples, report = load_penn_action_frames(root)
    assert [s.name for s in samples] == ["0001", "0002", "0003"] and report.samples == 3
    assert [s.split for s in samples] == ["train", "test", "train"] and samples[1].label == "squat"
    assert samples[0].load_frames([0, 4]).shape == (2, 48, 64, 3)
    ds = VideoClipDataset(samples, report.classes, num_frames=4, image_size=32, inputs=("rgb", "pose"))
    item = ds[0]
    assert item["rgb"].shape == (4, 3, 32, 32) and item["pose"].shape == (4, V, 5)
    assert int(item["label"]) == report.classes.index("golf_swing")
    assert load_penn_action_frames(root, split="test")[1].samples == 1


def test_penn_frames_missing_and_corrupt(tmp_path):
    root = _penn_tree(tmp_path / "penn")
    (root / "frames" / "0002" / "000003.jpg").unlink()
    with pytest.raises(InputError, match=r"0002.000003\.jpg: missing frame"):
        load_penn_action_frames(root)
    samples, report = load_penn_action_frames(root, strict=False)
    assert [s.name for s in samples] == ["0001", "0003"] and report.skipped[0][0] == "0002"
    cv2.imwrite(str(root / "frames" / "0002" / "000003.jpg"), np.zeros((48, 64, 3), np.uint8))
    shutil.rmtree(root / "frames" / "0003")
    with pytest.raises(InputError, match=r"frames.0003: frames folder"):
        load_penn_action_frames(root)


def test_penn_frames_corrupt_jpeg(tmp_path):
    root = _penn_tree(tmp_path / "penn")
    bad = root / "frames" / "0001" / "000002.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    # found at load time by check_images (strict: error; else skipped) ...
    with pytest.raises(InputError, match=r"0001.000002\.jpg: corrupt"):
        load_penn_action_frames(root, check_images=True)
    samples, report = load_penn_action_frames(root, strict=False, check_images=True)
    assert [s.name for s in samples] == ["0002", "0003"] and "corrupt" in report.skipped[0][1]
    # ... or, without it, when the dataset reads the frame
    samples, report = load_penn_action_frames(root)
    ds = VideoClipDataset(samples, report.classes, num_frames=8, image_size=32)
    with pytest.raises(InputError, match=r"0001.000002\.jpg: not a readable image"):
        ds[0]


# ---------------------------------------------------------------- UCF101
UCF = ("ApplyEyeMakeup", "Archery", "Basketball")


def _tiny_video(path: Path, n: int = 6, w: int = 64, h: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    frames = [np.full((h, w, 3), rng.integers(0, 255, 3), np.uint8) for _ in range(n)]
    for i, f in enumerate(frames):
        f[10:20, 4 * i:4 * i + 10] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_video(path, frames, codec="mpeg4", faststart=False)


def _ucf_tree(root: Path) -> Path:
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    (lists / "classInd.txt").write_text("".join(f"{i} {c}\r\n" for i, c in enumerate(UCF, 1)))
    train, test = [], []
    for i, c in enumerate(UCF, 1):
        for g in (8, 9):
            rel = f"{c}/v_{c}_g{g:02d}_c01.avi"
            _tiny_video(root / "UCF-101" / rel, seed=i * 10 + g)
            train.append(f"{rel} {i}\r\n")
        rel = f"{c}/v_{c}_g01_c01.avi"
        _tiny_video(root / "UCF-101" / rel, seed=i)
        test.append(f"{rel}\r\n")
    (lists / "trainlist01.txt").write_text("".join(train))
    (lists / "testlist01.txt").write_text("".join(test))
    return root


@pytest.fixture(scope="module")
def ucf_root(tmp_path_factory):
    return _ucf_tree(tmp_path_factory.mktemp("ucf"))


def test_ucf101_loader(ucf_root):
    samples, report = load_ucf101(ucf_root, split=1)
    assert report.classes == UCF and report.per_split == {"test": 3, "train": 6}
    s = next(x for x in samples if x.name == "v_Archery_g09_c01")
    assert s.label == "Archery" and s.split == "train" and s.subject == "g09"
    ds = VideoClipDataset(samples, report.classes, num_frames=4, image_size=32)
    item = ds[samples.index(s)]
    assert item["rgb"].shape == (4, 3, 32, 32) and int(item["label"]) == 1 and set(item) == {"rgb", "label", "index"}


def test_ucf101_bad_inputs(ucf_root, tmp_path):
    root = shutil.copytree(ucf_root, tmp_path / "u")
    (root / "ucfTrainTestlist" / "trainlist02.txt").write_text("Archery/v_Archery_g08_c01.avi 2\n")
    with pytest.raises(InputError, match="testlist02.txt: UCF101 test list not found"):
        load_ucf101(root, split=2)
    train = root / "ucfTrainTestlist" / "trainlist01.txt"
    good = train.read_text()
    train.write_text(good + "Archery/v_Archery_g20_c01.avi 2\n")
    with pytest.raises(InputError, match=r"trainlist01.txt:7: video .*v_Archery_g20_c01.avi not found"):
        load_ucf101(root)
    assert load_ucf101(root, strict=False)[1].skipped[0][0] == "Archery/v_Archery_g20_c01.avi"
    train.write_text(good + "Bowling/v_Bowling_g01_c01.avi 4\n")
    with pytest.raises(InputError, match="unknown class 'Bowling'"):
        load_ucf101(root)
    train.write_text(good.replace("v_Archery_g08_c01.avi 2", "v_Archery_g08_c01.avi 3"))
    with pytest.raises(InputError, match="does not match classInd.txt.*mismatched"):
        load_ucf101(root)
    train.write_text(good + "Archery/v_Archery_g01_c01.avi 2\n")  # also in the test list
    with pytest.raises(InputError, match="listed twice"):
        load_ucf101(root)
    (root / "ucfTrainTestlist" / "classInd.txt").unlink()
    with pytest.raises(InputError, match="classInd.txt: UCF101 class index file not found"):
        load_ucf101(root)


# ---------------------------------------------------------------- HMDB51
def _hmdb_tree(root: Path) -> Path:
    sd = root / "testTrainMulti_7030_splits"
    sd.mkdir(parents=True)
    for ci, c in enumerate(("brush_hair", "cartwheel")):
        lines = []
        for k, flag in enumerate((1, 1, 2, 0)):
            name = f"{c}_clip#{k}_f_cm_np1_ba_med_{k}.avi"
            if flag:
                _tiny_video(root / c / name, seed=ci * 10 + k)
            lines.append(f"{name} {flag} \n")  # the official files end lines with a space
        (sd / f"{c}_test_split1.txt").write_text("".join(lines))
    return root


def test_hmdb51_loader_and_bad_inputs(tmp_path):
    root = _hmdb_tree(tmp_path / "hmdb")
    samples, report = load_hmdb51(root, split=1)
    assert report.classes == ("brush_hair", "cartwheel") and report.per_split == {"test": 2, "train": 4}
    assert report.unused == 2
    ds = VideoClipDataset(samples, report.classes, num_frames=3, image_size=32)
    assert ds[0]["rgb"].shape == (3, 3, 32, 32)
    with pytest.raises(InputError, match=r"no HMDB51 split files '\*_test_split2.txt'"):
        load_hmdb51(root, split=2)
    sd = root / "testTrainMulti_7030_splits"
    # an entry without its video
    f = sd / "cartwheel_test_split1.txt"
    good = f.read_text()
    f.write_text(good + "ghost.avi 1\n")
    with pytest.raises(InputError, match=r"cartwheel_test_split1.txt:5: video .*ghost.avi not found"):
        load_hmdb51(root)
    f.write_text(good + "odd.avi 3\n")
    with pytest.raises(InputError, match="expected '<video>.avi <0|1|2>'"):
        load_hmdb51(root)
    f.write_text(good)
    # a split file for a class without videos: unknown class
    (sd / "kick_ball_test_split1.txt").write_text("x.avi 1\n")
    with pytest.raises(InputError, match="unknown class 'kick_ball'"):
        load_hmdb51(root)
    (sd / "kick_ball_test_split1.txt").unlink()
    # a video folder without its split file
    f.unlink()
    with pytest.raises(InputError, match="cartwheel_test_split1.txt: missing split file"):
        load_hmdb51(root)


# ---------------------------------------------------------------- generic folder
def test_video_folder_on_synthetic_videos(tmp_path):
    spec = SyntheticVideoSpec(num_classes=3, clips_per_class=2, frames=(8, 10), size=(64, 64), seed=5)
    out = write_synthetic_videos(spec, tmp_path / "syn", split_fractions=(0.5, 0.0, 0.5))
    samples, report = load_video_folder(out)
    assert report.classes == tuple(sorted(spec.classes)) and report.samples == 6
    ref = make_synthetic_dataset(spec, (0.5, 0.0, 0.5))
    by_name = {s.name: s for s in samples}
    for r in ref:
        s = by_name[r.name]
        assert s.label == r.label and s.split == r.split and np.allclose(s.keypoints, r.keypoints)
        dec = s.load_frames()
        assert dec.shape == r.load_frames().shape  # every frame decodes
        # lossy (pixel noise, 4:2:0 chroma) but close once the noise is averaged out (4x4 blocks)
        blocks = lambda a: a.astype(float).reshape(len(a), 16, 4, 16, 4, 3).mean((2, 4))  # noqa: E731
        assert np.abs(blocks(dec) - blocks(r.load_frames())).mean() < 5
    ds = VideoClipDataset(samples, report.classes, num_frames=6, image_size=32, inputs=("rgb", "pose"),
                          heatmap_size=16, train=True)
    item = ds[0]
    assert item["pose"].shape == (6, V, 5) and item["heatmaps"].shape == (6, V, 16, 16)
    # bad inputs
    with pytest.raises(InputError, match="unknown class 'squat'"):
        load_video_folder(out, classes=("jumping_jacks", "pushup"))
    csv = out / "labels.csv"
    text = csv.read_text()
    csv.write_text(text + "videos/ghost.mp4,squat,train,\n")
    with pytest.raises(InputError, match=r"labels.csv:8: video .*ghost.mp4 not found"):
        load_video_folder(out)
    csv.write_text(text.replace("split", "fold", 1))
    with pytest.raises(InputError, match="missing column"):
        load_video_folder(out)
    csv.unlink()
    with pytest.raises(InputError, match="labels.csv: label file not found"):
        load_video_folder(out)


# ---------------------------------------------------------------- VideoClipDataset
@pytest.fixture(scope="module")
def syn():
    spec = SyntheticVideoSpec(num_classes=6, clips_per_class=2, frames=(16, 16), size=(96, 96), seed=21)
    return spec, make_synthetic_dataset(spec, (0.5, 0.0, 0.5), lazy=False)


def test_items_follow_the_batch_contract(syn):
    spec, samples = syn
    ds = VideoClipDataset(samples, spec.classes, num_frames=8, image_size=48, train=True, inputs=("rgb", "pose"),
                          heatmap_size=24)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3, shuffle=False)))
    assert batch["rgb"].shape == (3, 8, 3, 48, 48) and batch["rgb"].dtype == torch.float32
    assert batch["pose"].shape == (3, 8, V, 5) and batch["pose"].dtype == torch.float32
    assert batch["keypoints"].shape == (3, 8, V, 2) and batch["visibility"].dtype == torch.bool
    assert batch["heatmaps"].shape == (3, 8, V, 24, 24) and batch["heatmaps"].dtype == torch.float32
    assert batch["heatmap_mask"].shape == (3, 8, V) and batch["heatmap_mask"].dtype == torch.bool
    assert batch["label"].dtype == torch.long and batch["label"].tolist() == ds.targets[:3]
    assert torch.isfinite(batch["pose"]).all() and torch.isfinite(batch["keypoints"]).all()
    # heatmap peaks sit on the keypoints (scaled to the heatmap)
    mask = batch["heatmap_mask"]
    hm, kp = batch["heatmaps"][mask], batch["keypoints"][mask]  # (N, 24, 24), (N, 2)
    arg = hm.flatten(1).argmax(1)
    peak = torch.stack([arg % 24, arg // 24], 1).float()
    assert ((peak - ((kp + 0.5) * 24 / 48 - 0.5)).abs() <= 0.51).all()
    with pytest.raises(ValueError, match="not in classes"):
        VideoClipDataset(samples, ("squat",))


def test_eval_pose_is_the_sportnet_code_and_crop_keeps_the_person(syn):
    spec, samples = syn
    s = samples[2]
    ds = VideoClipDataset([s], spec.classes, num_frames=8, image_size=48, inputs=("rgb", "pose"), heatmap_size=24)
    item = ds[0]
    idx = segment_indices(len(s.frames), 8, train=False)
    ref = encode_pose(s.keypoints, s.visibility, s.bbox)[idx]  # invariant to the per-frame crop
    assert np.allclose(item["pose"].numpy(), ref, atol=1e-4)
    # the same clip without the figure: the crop pixels under the keypoints must differ
    bg = VideoSample(name=s.name, label=s.label, split=s.split, keypoints=s.keypoints, visibility=s.visibility,
                     bbox=s.bbox, frames=render_frames(spec, s.meta["class_index"], s.meta["clip_index"],
                                                        with_figure=False))
    item_bg = VideoClipDataset([bg], spec.classes, num_frames=8, image_size=48, heatmap_size=24)[0]
    d = (item["rgb"] - item_bg["rgb"]).abs().sum(1)  # (T, S, S)
    kp, vis = item["keypoints"].round().long().clamp(0, 47), item["heatmap_mask"]
    on = [d[t, kp[t, j, 1], kp[t, j, 0]] > 0.5 for t in range(8) for j in range(V) if vis[t, j]]
    assert len(on) > 50 and np.mean(on) > 0.95


def test_flip_mirrors_pixels_and_swaps_joints(syn):
    spec, samples = syn
    s = samples[5]  # 16 frames = num_frames: train sampling takes every frame, as eval does
    kw = dict(num_frames=16, image_size=40, inputs=("rgb", "pose"), heatmap_size=20)
    ev = VideoClipDataset([s], spec.classes, **kw)[0]
    tr = VideoClipDataset([s], spec.classes, train=True, flip_p=1.0, **kw)[0]
    assert torch.allclose(tr["rgb"], ev["rgb"].flip(-1))
    vis = ev["visibility"]
    assert torch.equal(tr["visibility"], vis[:, FLIP])
    k_ev, k_tr = ev["keypoints"][:, FLIP], tr["keypoints"]
    m = vis[:, FLIP]
    assert torch.allclose(k_tr[..., 0][m], 39 - k_ev[..., 0][m], atol=1e-4)
    assert torch.allclose(k_tr[..., 1][m], k_ev[..., 1][m], atol=1e-4)
    lw, rw = PENN13.index("left_wrist"), PENN13.index("right_wrist")
    assert torch.allclose(tr["keypoints"][:, lw][m[:, lw]], torch.stack(
        [39 - ev["keypoints"][:, rw, 0], ev["keypoints"][:, rw, 1]], -1)[m[:, lw]], atol=1e-4)
    p_tr, p_ev = tr["pose"], ev["pose"][:, FLIP]
    assert torch.allclose(p_tr[..., 0][m], 1 - p_ev[..., 0][m], atol=1e-3)  # x~ mirrored in the box
    assert torch.allclose(p_tr[..., 2][m], -p_ev[..., 2][m], atol=1e-3)  # and its velocity


def test_bbox_outside_short_video_and_normalisation():
    L, H, W = 5, 40, 60
    frames = np.stack([np.full((H, W, 3), 10 + 40 * t, np.uint8) for t in range(L)])  # frame t: grey level
    kp = np.tile(np.linspace([-15, 5], [25, 35], V)[None], (L, 1, 1))  # part of the person left of the frame
    box = np.tile([-20.0, 2.0, 30.0, 38.0], (L, 1))  # half outside
    s = VideoSample(name="edge", label="a", split="test", frames=frames, keypoints=kp, bbox=box)
    ds = VideoClipDataset([s], ("a",), num_frames=12, image_size=32, inputs=("rgb", "pose"), heatmap_size=16)
    item = ds[0]
    rgb = item["rgb"]
    assert rgb.shape == (12, 3, 32, 32) and torch.isfinite(rgb).all()
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    inside = rgb[:, :, 16, 28]  # (T, 3): a crop pixel inside the frame
    levels = ((inside * std + mean) * 255).mean(1)  # ImageNet normalisation undone: grey levels
    expect = torch.tensor(10 + 40 * segment_indices(L, 12, train=False), dtype=torch.float32)
    assert torch.allclose(levels, expect, atol=1.0)  # frames 0,0,0,1,1,... repeated in order
    assert rgb[:, :, 16, 0].abs().max() < 0.02  # the part outside the frame: mean colour -> 0
    assert item["heatmap_mask"].all() and torch.isfinite(item["pose"]).all()
    tr = VideoClipDataset([s], ("a",), num_frames=12, image_size=32, train=True)[0]  # random sampling too
    assert tr["rgb"].shape == (12, 3, 32, 32)


def test_cache_round_trip(syn, tmp_path):
    spec, samples = syn
    kw = dict(num_frames=8, image_size=32, inputs=("rgb", "pose"))
    plain = VideoClipDataset(samples[:2], spec.classes, **kw)
    cached = VideoClipDataset(samples[:2], spec.classes, cache_dir=tmp_path / "c", **kw)
    for i in range(2):
        a, b = plain[i], cached[i]
        assert torch.allclose(a["rgb"], b["rgb"]) and torch.allclose(a["pose"], b["pose"])
    files = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert len([f for f in files if f.endswith(".geom.npy")]) == 2 and len(files) == 4
    assert not [f for f in files if f.startswith(".")]  # no temporary files left

    def boom():
        raise AssertionError("frames decoded although they are cached")

    s = samples[0]
    lazy = VideoSample(name=s.name, label=s.label, split=s.split, frames=boom, keypoints=s.keypoints,
                       visibility=s.visibility, bbox=s.bbox)
    again = VideoClipDataset([lazy], spec.classes, cache_dir=tmp_path / "c", **kw)[0]
    assert torch.allclose(again["rgb"], plain[0]["rgb"])


def test_flow_input(syn, tmp_path):
    pytest.importorskip("sportlens.video.flow")
    spec, samples = syn
    s = samples[0]
    kw = dict(num_frames=16, image_size=32, inputs=("flow", "rgb"), flow_stack=3)
    ev = VideoClipDataset([s], spec.classes, cache_dir=tmp_path / "c", **kw)[0]
    f = ev["flow"]
    assert f.shape == (16, 6, 32, 32) and f.dtype == torch.float32 and f.abs().max() <= 1.0
    assert f.abs().max() > 0.02  # the figure moves
    assert list((tmp_path / "c" / "flow").glob("*.npz"))
    tr = VideoClipDataset([s], spec.classes, train=True, flip_p=1.0, cache_dir=tmp_path / "c", **kw)[0]
    assert torch.allclose(tr["flow"][:, 0::2], -ev["flow"][:, 0::2].flip(-1), atol=1e-6)
    assert torch.allclose(tr["flow"][:, 1::2], ev["flow"][:, 1::2].flip(-1), atol=1e-6)
