"""Object detection, the engine side (seed 002 sec 2.1): boxes, IoU losses, targets, loss, NMS, metrics.

- Box formats: ``xyxy`` (x1, y1, x2, y2) and ``cxcywh`` (centre, width, height), pixels.
- IoU family, all elementwise over (..., 4) xyxy pairs, returning the *loss* ``1 - metric``:
  ``iou_loss``; ``ciou_loss`` = 1 - IoU + rho^2/c^2 + alpha v (eq. 5-7);
  ``improved_ciou_loss`` (eq. 8) = 1 - IoU + rho^2/c^2 + (w - w_gt)^2/C_w^2 + (h - h_gt)^2/C_h^2, C_w, C_h the
  width and height of the smallest enclosing box (the aspect term v replaced by separate width and
  height terms; the same as EIoU, Zhang et al. 2022);
  ``siou_loss`` = 1 - IoU + (Delta + Omega)/2 with the angle-aware distance cost Delta and the shape
  cost Omega (theta = 4) of Gevorgyan 2022 (seed 002, Figure 3).
- ``build_targets``: YOLOv5's assignment: a ground-truth box goes to every anchor whose width and
  height ratios are within ``anchor_t`` (4.0, seed 002 Table 2 "target aspect ratio"), in its own grid
  cell and the two nearest neighbouring cells.
- ``DetectionLoss``: eq. 3, L = lambda_box L_loc + lambda_obj L_obj + lambda_cls L_cls, with BCE (eq. 4)
  for objectness (target = the IoU of the matched prediction, YOLOv5) and classes.
- ``decode`` + ``nms`` (hand-written in torch: torchvision is not a dependency of sportlens, and a
  greedy NMS over a few hundred boxes is a few lines) + ``postprocess``.
- Metrics: ``average_precision`` (all-point interpolation, the area under the monotone precision
  envelope), ``detection_metrics`` -> precision, recall (at the confidence of maximal F1, as YOLOv5
  reports them), mAP@0.5 and mAP@0.5:0.95 (mean over the COCO thresholds 0.50, 0.55, ..., 0.95).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

EPS = 1e-7
BOX_LOSSES = ("iou", "ciou", "ciou_improved", "siou")
COCO_IOUS = tuple(np.round(np.linspace(0.5, 0.95, 10), 2).tolist())


# ---------------------------------------------------------------- boxes
def xyxy_to_cxcywh(b: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = b.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1)


def cxcywh_to_xyxy(b: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = b.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes -> (N, M)."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)  # (N, M)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    return inter / (area_a[:, None] + area_b[None] - inter + EPS)


def _parts(p: torch.Tensor, g: torch.Tensor) -> dict[str, torch.Tensor]:
    """Shared quantities of elementwise (..., 4) xyxy predictions ``p`` and ground truths ``g``."""
    pw, ph = p[..., 2] - p[..., 0], p[..., 3] - p[..., 1]
    gw, gh = g[..., 2] - g[..., 0], g[..., 3] - g[..., 1]
    iw = (torch.minimum(p[..., 2], g[..., 2]) - torch.maximum(p[..., 0], g[..., 0])).clamp(min=0)
    ih = (torch.minimum(p[..., 3], g[..., 3]) - torch.maximum(p[..., 1], g[..., 1])).clamp(min=0)
    inter = iw * ih
    iou = inter / (pw * ph + gw * gh - inter + EPS)
    cw = torch.maximum(p[..., 2], g[..., 2]) - torch.minimum(p[..., 0], g[..., 0])  # enclosing box width C_w
    ch = torch.maximum(p[..., 3], g[..., 3]) - torch.minimum(p[..., 1], g[..., 1])  # enclosing box height C_h
    dx = (g[..., 0] + g[..., 2] - p[..., 0] - p[..., 2]) / 2  # centre offsets, ground truth - prediction
    dy = (g[..., 1] + g[..., 3] - p[..., 1] - p[..., 3]) / 2
    return dict(pw=pw, ph=ph, gw=gw, gh=gh, iou=iou, cw=cw, ch=ch, dx=dx, dy=dy,
                rho2=dx ** 2 + dy ** 2, c2=cw ** 2 + ch ** 2 + EPS)


def iou_loss(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return 1 - _parts(p, g)["iou"]


def ciou_loss(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Eq. 5-7: 1 - IoU + rho^2(b, b_gt)/c^2 + alpha v, v = 4/pi^2 (atan(w_gt/h_gt) - atan(w/h))^2,
    alpha = v / ((1 - IoU) + v) (treated as a constant in the gradient, as in the CIoU paper)."""
    q = _parts(p, g)
    v = (4 / math.pi ** 2) * (torch.atan(q["gw"] / (q["gh"] + EPS)) - torch.atan(q["pw"] / (q["ph"] + EPS))) ** 2
    with torch.no_grad():
        alpha = v / ((1 - q["iou"]) + v + EPS)
    return 1 - q["iou"] + q["rho2"] / q["c2"] + alpha * v


def improved_ciou_loss(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Eq. 8: 1 - IoU + rho^2(b, b_gt)/C^2 + rho^2(w, w_gt)/C_w^2 + rho^2(h, h_gt)/C_h^2."""
    q = _parts(p, g)
    return (1 - q["iou"] + q["rho2"] / q["c2"] + (q["pw"] - q["gw"]) ** 2 / (q["cw"] ** 2 + EPS)
            + (q["ph"] - q["gh"]) ** 2 / (q["ch"] ** 2 + EPS))


def siou_loss(p: torch.Tensor, g: torch.Tensor, theta: float = 4.0) -> torch.Tensor:
    """SIoU (Gevorgyan 2022): 1 - IoU + (Delta + Omega) / 2.

    Angle cost Lambda = cos(2 arcsin(sin_alpha) - pi/2), sin_alpha = |dx|/sigma or |dy|/sigma (the
    smaller angle to an axis; sigma = centre distance); distance cost Delta = sum over x, y of
    1 - exp(-(2 - Lambda) rho_t), rho_x = (dx/C_w)^2, rho_y = (dy/C_h)^2; shape cost Omega = sum of
    (1 - exp(-omega_t))^theta, omega_w = |w - w_gt| / max(w, w_gt) (same for h)."""
    q = _parts(p, g)
    sigma = torch.sqrt(q["rho2"]) + EPS
    s1, s2 = q["dx"].abs() / sigma, q["dy"].abs() / sigma
    sin_alpha = torch.where(s1 > math.sqrt(2) / 2, s2, s1)
    angle = torch.cos(2 * torch.arcsin(sin_alpha.clamp(-1, 1)) - math.pi / 2)
    gamma = angle - 2
    rx, ry = (q["dx"] / (q["cw"] + EPS)) ** 2, (q["dy"] / (q["ch"] + EPS)) ** 2
    distance = 2 - torch.exp(gamma * rx) - torch.exp(gamma * ry)
    ow = (q["pw"] - q["gw"]).abs() / torch.maximum(q["pw"], q["gw"]).clamp(min=EPS)
    oh = (q["ph"] - q["gh"]).abs() / torch.maximum(q["ph"], q["gh"]).clamp(min=EPS)
    shape = (1 - torch.exp(-ow)) ** theta + (1 - torch.exp(-oh)) ** theta
    return 1 - q["iou"] + 0.5 * (distance + shape)


BOX_LOSS_FNS = {"iou": iou_loss, "ciou": ciou_loss, "ciou_improved": improved_ciou_loss, "siou": siou_loss}


# ---------------------------------------------------------------- decoding, NMS
def _grids(model: nn.Module, height: int, width: int, device) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """Per level: cell offsets (1, A*h*w, 2), anchors (1, A*h*w, 2) px, and the number of outputs."""
    out = []
    for (h, w), s, anc in zip(model.level_shapes(height, width), model.strides, model.anchors):
        a = anc.shape[0]
        yv, xv = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        grid = torch.stack([xv, yv], -1).float().reshape(1, 1, h * w, 2).expand(1, a, h * w, 2)  # (1, A, hw, 2)
        anchors = anc.to(device).reshape(1, a, 1, 2).expand(1, a, h * w, 2)  # (1, A, hw, 2)
        out.append((grid.reshape(1, a * h * w, 2), anchors.reshape(1, a * h * w, 2), s))
    return out


def decode(raw: torch.Tensor, model: nn.Module, height: int, width: int) -> torch.Tensor:
    """Raw head outputs (B, N, 5+K) -> (B, N, 5+K) with xyxy boxes in input pixels and sigmoid scores.

    YOLOv5 (v6): xy = (2 sigmoid(t_xy) - 0.5 + cell) * stride, wh = (2 sigmoid(t_wh))^2 * anchor."""
    y = raw.sigmoid()
    xy, wh, start = [], [], 0
    for grid, anchors, s in _grids(model, height, width, raw.device):
        n = grid.shape[1]
        xy.append((y[:, start:start + n, :2] * 2 - 0.5 + grid) * s)  # (B, n, 2)
        wh.append((y[:, start:start + n, 2:4] * 2) ** 2 * anchors)
        start += n
    if start != raw.shape[1]:
        raise ValueError(f"raw output has {raw.shape[1]} predictions, the grids of {height}x{width} give {start}")
    box = cxcywh_to_xyxy(torch.cat([torch.cat(xy, 1), torch.cat(wh, 1)], -1))  # (B, N, 4)
    return torch.cat([box, y[..., 4:]], -1)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS: indices of the kept boxes, by decreasing score (torchvision.ops.nms semantics).
    The IoU matrix is computed once in torch; the greedy pass runs over a numpy boolean matrix."""
    order = scores.argsort(descending=True)
    over = (box_iou(boxes[order], boxes[order]) > iou_threshold).cpu().numpy()  # (n, n)
    removed = np.zeros(len(order), bool)
    keep = []
    for i in range(len(order)):
        if not removed[i]:
            keep.append(i)
            removed |= over[i]
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]


def postprocess(decoded: torch.Tensor, conf_threshold: float = 0.25, iou_threshold: float = 0.45,
                max_det: int = 300, max_nms: int = 3000) -> list[torch.Tensor]:
    """Per image (n, 6) detections [x1, y1, x2, y2, score, class] after class-aware NMS;
    score = objectness x class probability."""
    out = []
    for d in decoded:  # (N, 5+K)
        cls_p, cls = (d[:, 5:] * d[:, 4:5]).max(1)  # (N,)
        m = cls_p > conf_threshold
        boxes, scores, cls = d[m, :4], cls_p[m], cls[m].float()
        if len(scores) > max_nms:
            top = scores.topk(max_nms).indices
            boxes, scores, cls = boxes[top], scores[top], cls[top]
        offset = cls[:, None] * 4096.0  # class-aware: boxes of different classes never overlap
        keep = nms(boxes + offset, scores, iou_threshold)[:max_det]
        out.append(torch.cat([boxes[keep], scores[keep, None], cls[keep, None]], 1))
    return out


# ---------------------------------------------------------------- targets and loss
def build_targets(targets: torch.Tensor, model: nn.Module, height: int, width: int, anchor_t: float = 4.0):
    """YOLOv5 assignment. ``targets`` (M, 6) = [image index, class, x1, y1, x2, y2] in input pixels.

    Returns, per level, (image index, anchor, row, column) LongTensors, the target boxes (n, 4) xyxy in
    pixels and the classes (n,)."""
    out = []
    g = 0.5
    offsets = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], device=targets.device).float() * g
    for (h, w), s, anc in zip(model.level_shapes(height, width), model.strides, model.anchors):
        a = anc.shape[0]
        anc = anc.to(targets.device)
        if len(targets) == 0:
            empty = torch.zeros(0, dtype=torch.long, device=targets.device)
            out.append(((empty, empty, empty, empty), targets.new_zeros(0, 4), empty))
            continue
        cxcywh = xyxy_to_cxcywh(targets[:, 2:6]) / s  # (M, 4) grid units
        t = torch.cat([targets[:, :2], cxcywh], 1)  # (M, 6) [img, cls, cx, cy, w, h]
        t = t[None].expand(a, -1, -1)  # (A, M, 6)
        ai = torch.arange(a, device=targets.device)[:, None].expand(a, len(targets))  # (A, M)
        r = t[..., 4:6] / (anc[:, None] / s)  # (A, M, 2) wh ratio to the anchor
        j = torch.max(r, 1 / r).max(2).values < anchor_t  # (A, M)
        t, ai = t[j], ai[j]  # (n, 6), (n,)
        gxy = t[:, 2:4]
        gxi = torch.tensor([w, h], device=targets.device) - gxy  # inverse
        jx, jy = ((gxy % 1 < g) & (gxy > 1)).T
        lx, ly = ((gxi % 1 < g) & (gxi > 1)).T
        sel = torch.stack([torch.ones_like(jx), jx, jy, lx, ly])  # (5, n)
        t = t[None].expand(5, -1, -1)[sel]  # (n', 6)
        ai = ai[None].expand(5, -1)[sel]
        off = (torch.zeros_like(gxy)[None] + offsets[:, None])[sel]  # (n', 2)
        gij = (t[:, 2:4] - off).long()
        gi, gj = gij[:, 0].clamp(0, w - 1), gij[:, 1].clamp(0, h - 1)
        box = cxcywh_to_xyxy(t[:, 2:6]) * s  # (n', 4) px
        out.append(((t[:, 0].long(), ai, gj, gi), box, t[:, 1].long()))
    return out


@dataclass(frozen=True)
class LossWeights:
    box: float = 0.05  # seed 002 Table 2 "loss coefficient"; YOLOv5's hyp.box
    obj: float = 1.0
    cls: float = 0.5
    anchor_t: float = 4.0  # seed 002 Table 2 "target aspect ratio"
    balance: tuple[float, float, float] = (4.0, 1.0, 0.4)  # objectness weight per level P3, P4, P5


class DetectionLoss(nn.Module):
    """Eq. 3: L = lambda_box L_loc + lambda_obj L_obj + lambda_cls L_cls; L_obj and L_cls are BCE (eq. 4).

    ``box_loss``: ``iou`` | ``ciou`` (eq. 5-7) | ``ciou_improved`` (eq. 8) | ``siou``. Returns the total
    (scaled by the batch size, as YOLOv5 does) and a dict of the parts (detached floats)."""

    def __init__(self, model: nn.Module, box_loss: str = "ciou_improved", weights: LossWeights = LossWeights()):
        super().__init__()
        if box_loss not in BOX_LOSS_FNS:
            raise ValueError(f"unknown box_loss {box_loss!r}; choose one of {', '.join(BOX_LOSSES)}")
        self.model, self.box_fn, self.w = model, BOX_LOSS_FNS[box_loss], weights
        self.bce = nn.BCEWithLogitsLoss()

    def forward(self, raw: torch.Tensor, targets: torch.Tensor, height: int, width: int):
        m = self.model
        b = raw.shape[0]
        zero = raw.new_zeros(())
        l_box, l_obj, l_cls = zero, zero, zero
        assigned = build_targets(targets.to(raw.device), m, height, width, self.w.anchor_t)
        start = 0
        for lvl, ((h, w), s, anc) in enumerate(zip(m.level_shapes(height, width), m.strides, m.anchors)):
            a = anc.shape[0]
            p = raw[:, start:start + a * h * w].reshape(b, a, h, w, -1)  # (B, A, h, w, 5+K)
            start += a * h * w
            (bi, ai, gj, gi), tbox, tcls = assigned[lvl]
            tobj = torch.zeros_like(p[..., 4])  # (B, A, h, w)
            if len(bi):
                ps = p[bi, ai, gj, gi]  # (n, 5+K)
                pxy = (ps[:, :2].sigmoid() * 2 - 0.5 + torch.stack([gi, gj], 1)) * s
                pwh = (ps[:, 2:4].sigmoid() * 2) ** 2 * anc.to(raw.device)[ai]
                pbox = cxcywh_to_xyxy(torch.cat([pxy, pwh], 1))  # (n, 4) px
                l_box = l_box + self.box_fn(pbox, tbox).mean()
                with torch.no_grad():
                    iou = _parts(pbox, tbox)["iou"].clamp(min=0)
                tobj[bi, ai, gj, gi] = iou.to(tobj.dtype)
                if m.num_classes > 1:
                    t = torch.zeros_like(ps[:, 5:])
                    t[torch.arange(len(tcls)), tcls] = 1.0
                    l_cls = l_cls + self.bce(ps[:, 5:], t)
            l_obj = l_obj + self.bce(p[..., 4], tobj) * self.w.balance[lvl]
        scale = 3 / len(m.strides)
        l_box, l_obj = l_box * self.w.box * scale, l_obj * self.w.obj * scale * (height / 640) ** 2
        l_cls = l_cls * self.w.cls * scale * m.num_classes / 80
        total = (l_box + l_obj + l_cls) * b
        return total, {"box": float(l_box.detach()), "obj": float(l_obj.detach()), "cls": float(l_cls.detach())}


# ---------------------------------------------------------------- metrics
def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """All-point interpolation: area under the precision envelope (max precision at recall >= r),
    from recall 0 to the last recall reached."""
    r = np.concatenate([[0.0], np.asarray(recall, float), [1.0]])
    p = np.concatenate([[1.0], np.asarray(precision, float), [0.0]])
    p = np.flip(np.maximum.accumulate(np.flip(p)))  # envelope
    i = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[i + 1] - r[i]) * p[i + 1]))


def match_detections(det_boxes: np.ndarray, det_scores: np.ndarray, gt_boxes: np.ndarray,
                     iou_thresholds: Sequence[float] = COCO_IOUS) -> np.ndarray:
    """One image: (D, T) bool, True where detection d (in the given order) is a true positive at
    threshold t. Greedy by decreasing score; each ground truth is matched at most once (COCO/VOC)."""
    order = np.argsort(-det_scores, kind="stable")
    tp = np.zeros((len(det_boxes), len(iou_thresholds)), bool)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return tp
    ious = box_iou(torch.as_tensor(det_boxes, dtype=torch.float64),
                   torch.as_tensor(gt_boxes, dtype=torch.float64)).numpy()  # (D, G)
    for ti, thr in enumerate(iou_thresholds):
        used = np.zeros(len(gt_boxes), bool)
        for d in order:
            cand = np.where(~used & (ious[d] >= thr))[0]
            if len(cand):
                g = cand[np.argmax(ious[d, cand])]
                used[g] = True
                tp[d, ti] = True
    return tp


def detection_metrics(detections: Sequence[np.ndarray], ground_truths: Sequence[np.ndarray],
                      iou_thresholds: Sequence[float] = COCO_IOUS) -> dict[str, float]:
    """Single-class detection metrics over a set of images.

    ``detections``: per image (D, 5) [x1, y1, x2, y2, score]; ``ground_truths``: per image (G, 4).
    Returns precision and recall (at IoU 0.5, at the score threshold of maximal F1), ``map50``,
    ``map50_95`` (mean AP over ``iou_thresholds``), ``ap_per_iou``, ``num_gt``, ``num_det``."""
    tps, scores = [], []
    n_gt = int(sum(len(g) for g in ground_truths))
    for det, gt in zip(detections, ground_truths):
        det = np.asarray(det, float).reshape(-1, 5)
        tps.append(match_detections(det[:, :4], det[:, 4], np.asarray(gt, float).reshape(-1, 4), iou_thresholds))
        scores.append(det[:, 4])
    tp = np.concatenate(tps) if tps else np.zeros((0, len(iou_thresholds)), bool)
    sc = np.concatenate(scores) if scores else np.zeros(0)
    order = np.argsort(-sc, kind="stable")
    tp, sc = tp[order], sc[order]
    ctp = np.cumsum(tp, 0)  # (D, T)
    cfp = np.cumsum(~tp, 0)
    recall = ctp / max(n_gt, 1)
    precision = ctp / np.maximum(ctp + cfp, 1)
    aps = [average_precision(recall[:, t], precision[:, t]) if n_gt and len(sc) else 0.0
           for t in range(len(iou_thresholds))]
    p = r = 0.0
    if len(sc) and n_gt:
        f1 = 2 * precision[:, 0] * recall[:, 0] / np.maximum(precision[:, 0] + recall[:, 0], 1e-12)
        best = int(np.argmax(f1))
        p, r = float(precision[best, 0]), float(recall[best, 0])
    i50 = list(iou_thresholds).index(0.5) if 0.5 in iou_thresholds else 0
    return {"precision": p, "recall": r, "map50": float(aps[i50]), "map50_95": float(np.mean(aps)),
            "ap_per_iou": {f"{t:.2f}": float(a) for t, a in zip(iou_thresholds, aps)},
            "num_gt": n_gt, "num_det": int(len(sc))}


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, conf_threshold: float = 0.001,
            iou_threshold: float = 0.6, max_det: int = 300) -> list[torch.Tensor]:
    """(B, 3, S, S) -> per image (n, 6) [x1, y1, x2, y2, score, class] in input pixels."""
    h, w = images.shape[-2:]
    return postprocess(decode(model(images), model, h, w), conf_threshold, iou_threshold, max_det)
