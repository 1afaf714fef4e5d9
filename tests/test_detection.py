"""Seed 002 detector: IoU losses against hand computations, NMS, AP/mAP, COCO loader, generated scenes,
the model, overfitting a tiny batch, YoloPersonDetector and ``sportlens train-detector`` (CPU, fast)."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from sportlens.data.detection_data import (DetectionDataset, collate_detection, generate_scenes, letterbox,
                                           load_coco, render_scene, write_coco_folder)
from sportlens.engine.checkpoint import save_checkpoint
from sportlens.engine.detection import (COCO_IOUS, DetectionLoss, average_precision, box_iou, build_targets,
                                        ciou_loss, cxcywh_to_xyxy, decode, detection_metrics, improved_ciou_loss,
                                        iou_loss, nms, predict, siou_loss, xyxy_to_cxcywh)
from sportlens.errors import InputError
from sportlens.models import create_model
from sportlens.models._common import DetectorModel

pytestmark = pytest.mark.usefixtures("one_thread")

T = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731


# ---------------------------------------------------------------- IoU losses, by hand
# Pair A: p = [0,0,2,2], g = [1,1,3,3]. Intersection [1,1,2,2] = 1, union 4 + 4 - 1 = 7: IoU = 1/7.
#   centres (1,1), (2,2): rho^2 = 1 + 1 = 2; enclosing box [0,0,3,3]: C_w = C_h = 3, c^2 = 18.
#   both square: v = 0. Equal widths and heights: the eq. 8 extra terms are 0.
#   SIoU: dx = dy = 1, sigma = sqrt 2, sin_alpha = 1/sqrt 2 -> angle cost cos(2 pi/4 - pi/2) = 1,
#   gamma = -1, rho_x = rho_y = (1/3)^2: Delta = 2 - 2 e^{-1/9}; Omega = 0.
# Pair B: p = [0,0,4,2], g = [0,0,2,2]. Intersection 4, union 8 + 4 - 4 = 8: IoU = 1/2.
#   centres (2,1), (1,1): rho^2 = 1; enclosing [0,0,4,2]: c^2 = 16 + 4 = 20.
#   v = 4/pi^2 (atan(2/2) - atan(4/2))^2, alpha = v / (1/2 + v).
#   eq. 8: (4 - 2)^2 / C_w^2 = 4/16, (2 - 2)^2 / C_h^2 = 0.
#   SIoU: dx = -1, dy = 0, sigma = 1: |dx|/sigma = 1 > sqrt2/2 so sin_alpha = |dy|/sigma = 0 ->
#   angle cost cos(0 - pi/2) = 0, gamma = -2; rho_x = (1/4)^2, rho_y = 0: Delta = 1 - e^{-2/16};
#   omega_w = |4 - 2| / 4 = 1/2, omega_h = 0: Omega = (1 - e^{-1/2})^4.
# Pair C (disjoint): p = [0,0,1,1], g = [2,0,3,1]. IoU = 0; rho^2 = 2^2 = 4; enclosing [0,0,3,1]: c^2 = 10.
#   v = 0, equal sizes. SIoU: dy = 0 -> angle cost 0, gamma = -2, rho_x = (2/3)^2: Delta = 1 - e^{-8/9}.
V_B = 4 / math.pi ** 2 * (math.pi / 4 - math.atan(2)) ** 2
CASES = [  # p, g, IoU loss, CIoU, improved CIoU (eq. 8), SIoU
    ([0, 0, 2, 2], [1, 1, 3, 3], 6 / 7, 6 / 7 + 2 / 18, 6 / 7 + 2 / 18, 6 / 7 + 0.5 * (2 - 2 * math.exp(-1 / 9))),
    ([0, 0, 4, 2], [0, 0, 2, 2], 0.5, 0.5 + 1 / 20 + V_B ** 2 / (0.5 + V_B), 0.5 + 1 / 20 + 4 / 16,
     0.5 + 0.5 * (1 - math.exp(-2 / 16) + (1 - math.exp(-0.5)) ** 4)),
    ([0, 0, 1, 1], [2, 0, 3, 1], 1.0, 1 + 4 / 10, 1 + 4 / 10, 1 + 0.5 * (1 - math.exp(-8 / 9))),
    ([5, 5, 9, 12], [5, 5, 9, 12], 0.0, 0.0, 0.0, 0.0),  # identical boxes: every loss is 0
]


@pytest.mark.parametrize("p, g, l_iou, l_ciou, l_eciou, l_siou", CASES)
def test_box_losses_match_hand_computation(p, g, l_iou, l_ciou, l_eciou, l_siou):
    p, g = T(*p), T(*g)
    for fn, want in [(iou_loss, l_iou), (ciou_loss, l_ciou), (improved_ciou_loss, l_eciou), (siou_loss, l_siou)]:
        assert float(fn(p, g)) == pytest.approx(want, abs=1e-6), fn.__name__


def test_box_losses_batch_and_gradients():
    p = torch.tensor([[0.0, 0, 2, 2], [0, 0, 4, 2]], requires_grad=True)
    g = torch.tensor([[1.0, 1, 3, 3], [0, 0, 2, 2]])
    for fn in (iou_loss, ciou_loss, improved_ciou_loss, siou_loss):
        loss = fn(p, g)
        assert loss.shape == (2,)
        (grad,) = torch.autograd.grad(loss.sum(), p)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, fn.__name__


def test_box_conversions_and_pairwise_iou():
    b = torch.tensor([[0.0, 0, 4, 2], [1, 1, 3, 5]])
    assert torch.allclose(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b)
    assert torch.allclose(xyxy_to_cxcywh(b)[0], torch.tensor([2.0, 1, 4, 2]))
    iou = box_iou(b, torch.tensor([[0.0, 0, 2, 2]]))
    # [0,0,4,2] vs [0,0,2,2]: 4 / 8; [1,1,3,5] vs [0,0,2,2]: 1 / (8 + 4 - 1)
    assert torch.allclose(iou[:, 0], torch.tensor([0.5, 1 / 11]), atol=1e-6)


# ---------------------------------------------------------------- NMS, AP
def test_nms_keeps_the_best_of_each_cluster():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [21, 20, 30, 30], [0, 0, 10, 4]])
    scores = torch.tensor([0.9, 0.95, 0.7, 0.6, 0.5])
    # [1,1,10,10] (0.95) suppresses [0,0,10,10] (IoU 81/100); [20,..] suppresses [21,..] (IoU 0.9);
    # [0,0,10,4] vs [1,1,10,10]: 27 / (40 + 81 - 27) < 0.5: kept
    assert nms(boxes, scores, 0.5).tolist() == [1, 2, 4]
    assert nms(boxes, scores, 0.95).tolist() == [1, 0, 2, 3, 4]
    assert nms(boxes[:0], scores[:0], 0.5).tolist() == []


def test_average_precision_known_curves():
    gts = [np.array([[0, 0, 10, 10], [20, 20, 30, 30]], float)]
    perfect = [np.array([[0, 0, 10, 10, 0.9], [20, 20, 30, 30, 0.8]], float)]
    m = detection_metrics(perfect, gts)
    assert m["map50"] == pytest.approx(1.0) and m["map50_95"] == pytest.approx(1.0)
    assert m["precision"] == 1.0 and m["recall"] == 1.0
    # TP (0.9), FP (0.8), TP (0.7): precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1. Envelope: 1 up to
    # recall 1/2, then 2/3: AP = 1/2 * 1 + 1/2 * 2/3 = 5/6. Max F1 at the last point: P 2/3, R 1.
    dets = [np.array([[0, 0, 10, 10, 0.9], [50, 50, 60, 60, 0.8], [20, 20, 30, 30, 0.7]], float)]
    m = detection_metrics(dets, gts)
    assert m["map50"] == pytest.approx(5 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(1.0)
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(5 / 6)
    # a box of IoU 0.6 counts at thresholds 0.50 and 0.55 only: mAP@0.5:0.95 = 2/10 for one object
    off = [np.array([[0, 0, 10, 6, 0.9]], float)]
    m = detection_metrics(off, [np.array([[0, 0, 10, 10]], float)])
    assert m["map50"] == pytest.approx(1.0) and m["map50_95"] == pytest.approx(0.2)
    # a duplicate detection is a false positive; no detections -> 0
    dup = [np.array([[0, 0, 10, 10, 0.9], [0, 0, 10, 10, 0.8]], float)]
    assert detection_metrics(dup, [gts[0][:1]])["precision"] == 1.0  # max-F1 point before the duplicate
    assert detection_metrics([np.zeros((0, 5))], gts)["map50"] == 0.0
    assert len(COCO_IOUS) == 10 and COCO_IOUS[0] == 0.5 and COCO_IOUS[-1] == 0.95


# ---------------------------------------------------------------- COCO loader
def _coco_fixture(root, **change):
    """Official layout: annotations/instances_val2017.json + val2017/*.jpg."""
    (root / "val2017").mkdir(parents=True)
    (root / "annotations").mkdir()
    for name in ("000000000001.jpg", "000000000002.jpg"):
        cv2.imwrite(str(root / "val2017" / name), np.full((40, 60, 3), 128, np.uint8))
    data = {
        "info": {}, "licenses": [],
        "images": [{"id": 1, "file_name": "000000000001.jpg", "width": 60, "height": 40},
                   {"id": 2, "file_name": "000000000002.jpg", "width": 60, "height": 40}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 5, 20, 30], "iscrowd": 0, "area": 600},
            {"id": 2, "image_id": 1, "category_id": 18, "bbox": [0, 0, 5, 5], "iscrowd": 0, "area": 25},  # dog
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 0, 60, 40], "iscrowd": 1, "area": 2400},
            {"id": 4, "image_id": 2, "category_id": 1, "bbox": [40.5, 0, 19.5, 40], "iscrowd": 0, "area": 780}],
        "categories": [{"id": 1, "name": "person", "supercategory": "person"},
                       {"id": 18, "name": "dog", "supercategory": "animal"}],
    }
    for key, fn in change.items():
        fn(data)
    path = root / "annotations" / "instances_val2017.json"
    path.write_text(json.dumps(data))
    return path, root / "val2017"


def test_coco_loader_official_layout(tmp_path):
    path, images = _coco_fixture(tmp_path)
    samples = load_coco(path, images)
    assert [s.name for s in samples] == ["000000000001.jpg", "000000000002.jpg"]
    np.testing.assert_allclose(samples[0].boxes, [[10, 5, 30, 35]])  # crowd and dog skipped; xywh -> xyxy
    np.testing.assert_allclose(samples[1].boxes, [[40.5, 0, 60, 40]])
    assert samples[0].load().shape == (40, 60, 3)


@pytest.mark.parametrize("change, message", [
    (dict(a=lambda d: d.pop("annotations")), "missing key(s) annotations"),
    (dict(a=lambda d: d["images"][0].pop("width")), "images[0] lacks width"),
    (dict(a=lambda d: d["annotations"][0].update(bbox=[50, 5, 20, 30])), "outside image"),
    (dict(a=lambda d: d["annotations"][0].update(bbox=[10, 5, 0, 30])), "empty or outside"),
    (dict(a=lambda d: d["annotations"][0].update(bbox=[10, 5])), "bbox must be [x, y, width, height]"),
    (dict(a=lambda d: d["annotations"][0].update(image_id=99)), "image_id 99"),
    (dict(a=lambda d: d["images"][1].update(file_name="missing.jpg")), "'missing.jpg' (id 2) not found"),
    (dict(a=lambda d: d["categories"].pop(0)), "no category named 'person'"),
])
def test_coco_loader_rejects_malformed_files(tmp_path, change, message):
    path, images = _coco_fixture(tmp_path, **change)
    with pytest.raises(InputError, match=None) as e:
        load_coco(path, images)
    assert message in str(e.value) and str(path) in str(e.value)


def test_coco_loader_bad_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_coco(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_coco(tmp_path / "bad.json")


# ---------------------------------------------------------------- generated scenes, dataset
def test_generated_scenes_are_deterministic_and_round_trip_through_coco(tmp_path):
    a, b = generate_scenes(6, seed=3), generate_scenes(6, seed=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.boxes, y.boxes)
    assert not np.array_equal(a[0].image, generate_scenes(1, seed=4)[0].image)
    for s in a:
        assert 1 <= len(s.boxes) <= 4 and s.image.shape == (s.height, s.width, 3)
        assert (s.boxes[:, 2] > s.boxes[:, 0]).all() and (s.boxes[:, 3] > s.boxes[:, 1]).all()
        assert (s.boxes >= 0).all() and (s.boxes[:, [0, 2]] <= s.width).all() and (s.boxes[:, [1, 3]] <= s.height).all()
    back = load_coco(write_coco_folder(a, tmp_path / "coco"))  # images/ beside annotations.json
    for x, y in zip(a, back):
        np.testing.assert_allclose(x.boxes, y.boxes, atol=0.01)
        assert np.abs(y.load().astype(int) - x.image.astype(int)).mean() < 6  # JPEG of a noisy image


def test_person_pixels_are_inside_their_boxes():
    img, boxes = render_scene(5, 0, (192, 256), max_people=1)
    bg, _ = render_scene(5, 0, (192, 256), max_people=0)[0], None
    changed = np.abs(img.astype(int) - bg.astype(int)).max(-1) > 40
    ys, xs = np.nonzero(changed)
    x1, y1, x2, y2 = boxes[0]
    inside = (xs >= x1 - 1) & (xs <= x2 + 1) & (ys >= y1 - 1) & (ys <= y2 + 1)
    assert changed.sum() > 20 and inside.mean() > 0.97
    assert xs.min() - x1 < 4 and x2 - xs.max() < 4 and ys.min() - y1 < 4 and y2 - ys.max() < 4  # tight


def test_letterbox_dataset_maps_boxes_and_flips():
    s = generate_scenes(1, seed=0, sizes=((120, 240),))[0]
    img, r, (px, py) = letterbox(s.image, 128)
    assert img.shape == (128, 128, 3) and r == pytest.approx(128 / 240) and px == 0 and py == 32
    item = DetectionDataset([s], 128)[0]
    np.testing.assert_allclose(item["boxes"].numpy(), s.boxes * r + [px, py, px, py], atol=1e-4)
    flipped = None
    ds = DetectionDataset([s] * 20, 128, augment=True, seed=0)
    for i in range(20):  # some items are flipped: the mirror boxes appear
        b = ds[i]["boxes"].numpy()
        if not np.allclose(b, item["boxes"].numpy()):
            flipped = b
    assert flipped is not None
    np.testing.assert_allclose(np.sort(flipped[:, 0]), np.sort(128 - item["boxes"].numpy()[:, 2]), atol=1e-4)
    batch = collate_detection([ds[0], ds[1]])
    assert batch["image"].shape == (2, 3, 128, 128) and batch["targets"].shape[1] == 6
    assert set(batch["targets"][:, 0].tolist()) == {0.0, 1.0}


# ---------------------------------------------------------------- model
def small(**kw):
    torch.manual_seed(0)
    return create_model("yolov5s_cbam", **{"image_size": 64, "width": 0.125, **kw})


@pytest.mark.parametrize("kw", [dict(), dict(swin=True), dict(cbam=False, num_classes=3)])
def test_model_shapes_finite_and_gradients(kw):
    m = small(**kw)
    assert isinstance(m, DetectorModel) and m.strides == (8, 16, 32) and m.anchors.shape == (3, 3, 2)
    x = torch.rand(2, 3, 64, 64)
    raw = m(x)
    k = kw.get("num_classes", 1)
    assert raw.shape == (2, 3 * (8 * 8 + 4 * 4 + 2 * 2), 5 + k) and torch.isfinite(raw).all()
    raw.square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    m.eval()
    with torch.no_grad():
        d = decode(m(x), m, 64, 64)
    assert d.shape == raw.shape and ((d[..., 4:] >= 0) & (d[..., 4:] <= 1)).all()
    with pytest.raises(ValueError, match="B, 3, S, S"):
        m(torch.rand(2, 1, 64, 64))
    with pytest.raises(ValueError, match="multiple of 32"):
        small(image_size=70)


def test_targets_go_to_matching_anchors_and_cells():
    m = small(image_size=128)  # anchors scaled by 128/640: P3 (2, 2.6) (3.2, 6) (6.6, 4.6), P4 (6, 12.2) ...
    t = torch.tensor([[0, 0, 40.0, 40.0, 60.0, 80.0]])  # 20 x 40 px person, centre (50, 60)
    out = build_targets(t, m, 128, 128)
    assert len(out[0][0][0]) == 0  # P3: 40 / 6 > 4 for every anchor
    (bi, ai, gj, gi), box, cls = out[1]  # P4, stride 16: centre (3.125, 3.75) in cell (3, 3)
    assert len(bi) > 0 and (box == torch.tensor([40.0, 40, 60, 80])).all(dim=1).all() and (cls == 0).all()
    # own cell, plus the left neighbour (x fraction 0.125 < 0.5) and the lower one (y fraction 0.75 > 0.5)
    assert {(int(j), int(i)) for j, i in zip(gj, gi)} == {(3, 3), (3, 2), (4, 3)}
    assert set(ai.tolist()) == {0, 2}  # P4 anchors (6, 12.2), (11.8, 23.8) match; (12.4, 9): 40 / 9 > 4
    huge = build_targets(torch.tensor([[0, 0, 0.0, 0.0, 128.0, 128.0]]), m, 128, 128)
    assert len(huge[0][0][0]) == 0 and len(huge[2][0][0]) > 0  # a full-image box only on stride 32


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    """A tiny detector trained for seconds on 4 scenes; returns (model, scenes, losses, checkpoint)."""
    scenes = generate_scenes(4, seed=11, sizes=((128, 128),), max_people=2)
    torch.manual_seed(0)
    m = create_model("yolov5s_cbam", image_size=128, width=0.125)
    loss_fn = DetectionLoss(m, "ciou_improved")
    batch = collate_detection([DetectionDataset(scenes, 128)[i] for i in range(4)])
    opt = torch.optim.Adam(m.parameters(), lr=0.003)
    losses = []
    m.train()
    for _ in range(80):
        loss, _parts = loss_fn(m(batch["image"]), batch["targets"], 128, 128)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    m.eval()
    path = save_checkpoint(tmp_path_factory.mktemp("det") / "best.pt", model_name="yolov5s_cbam",
                           model_kwargs={"image_size": 128, "width": 0.125}, model=m, classes=["person"],
                           data_spec={"task": "detection", "image_size": 128}, epoch=1, metrics={}, config={})
    return m, scenes, batch, losses, path


def test_overfit_a_tiny_batch(overfit):
    m, scenes, batch, losses, _ = overfit
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    dets = predict(m, batch["image"], conf_threshold=0.01)
    t = batch["targets"]
    res = detection_metrics([d[:, :5].numpy() for d in dets], [t[t[:, 0] == i, 2:].numpy() for i in range(4)])
    assert res["map50"] > 0.8, res


@pytest.mark.parametrize("name", ["iou", "ciou", "siou"])
def test_every_box_loss_trains(name):
    m = small()
    loss_fn = DetectionLoss(m, name)
    t = torch.tensor([[0, 0, 10.0, 10.0, 30.0, 50.0], [1, 0, 30.0, 5.0, 50.0, 40.0]])
    loss, parts = loss_fn(m(torch.rand(2, 3, 64, 64)), t, 64, 64)
    loss.backward()
    assert torch.isfinite(loss) and parts["box"] > 0 and parts["obj"] > 0
    with pytest.raises(ValueError, match="unknown box_loss"):
        DetectionLoss(m, "giou")


def test_yolo_person_detector_round_trip(overfit):
    from sportlens.detect import YoloPersonDetector

    _, scenes, _, _, path = overfit
    det = YoloPersonDetector(path, conf_threshold=0.1)
    for s in scenes[:2]:
        # twice the size (pixel-duplicated, so the letterboxed input is exactly the training image): the
        # boxes must come back in this image's pixels
        big = cv2.resize(s.image, (256, 256), interpolation=cv2.INTER_NEAREST)
        boxes, scores = det.detect(big)
        assert boxes.dtype == np.float32 and boxes.shape == (len(scores), 4) and (np.diff(scores) <= 0).all()
        iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(s.boxes * 2)).numpy()
        assert iou.shape[0] > 0 and (iou.max(0) > 0.5).all(), iou
    with pytest.raises(InputError, match="RGB"):
        det.detect(np.zeros((10, 10), np.uint8))


def test_yolo_person_detector_rejects_other_checkpoints(tmp_path):
    from sportlens.detect import YoloPersonDetector

    m = create_model("tcn", num_classes=3, width=16)
    p = save_checkpoint(tmp_path / "tcn.pt", model_name="tcn", model_kwargs={"num_classes": 3, "width": 16}, model=m,
                        classes=list("abc"), data_spec={}, epoch=0, metrics={}, config={})
    with pytest.raises(InputError, match="not a detector"):
        YoloPersonDetector(p)


# ---------------------------------------------------------------- CLI
def test_train_detector_cli_tiny(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("image_size: 64\nmodel_kwargs.width: 0.125\nsynthetic_train: 8\nsynthetic_val: 4\n"
                   "synthetic_test: 4\nepochs: 1\nbatch_size: 4\nsynthetic_write_coco: true\n"
                   f"out_dir: {tmp_path / 'runs'}\nname: tiny\nthreads: 1\n")
    done = subprocess.run([sys.executable, "-m", "sportlens", "train-detector", str(cfg), "--set", "box_loss=siou"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "tiny"
    m = json.loads((run / "metrics.json").read_text())
    assert m["box_loss"] == "siou" and m["evaluated_split"] == "test"
    assert {"precision", "recall", "map50", "map50_95"} <= set(m["test"]) and m["fps_batch1"] > 0
    assert m["params"] > 0 and m["flops"] > 0 and (run / "best.pt").is_file()
    assert (run / "data" / "train" / "annotations.json").is_file() and "mAP@0.5" in done.stderr
    bad = subprocess.run([sys.executable, "-m", "sportlens", "train-detector", str(cfg), "--set", "box_loss=giou"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "giou" in bad.stderr and "Traceback" not in bad.stderr


def test_training_stops_at_the_time_limit(tmp_path):
    from sportlens.engine.detection_experiment import DetectorTrainConfig, run_detector_training

    cfg = DetectorTrainConfig(model_kwargs={"width": 0.125}, image_size=64, synthetic_train=8, synthetic_val=2,
                              synthetic_test=2, epochs=50, batch_size=4, time_limit_s=0.3, out_dir=str(tmp_path),
                              name="t")
    m = json.loads((run_detector_training(cfg) / "metrics.json").read_text())
    assert m["stopped_by_time_limit"] and m["epochs_run"] < 50 and (tmp_path / "t" / "best.pt").is_file()
    assert m["train_seconds"] < 30
