"""Metrics and model statistics. Every output is JSON-friendly: plain floats/ints, None for NaN.

Add a metric by adding a function here.
"""
from __future__ import annotations

import csv
import math
import statistics
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

from sportlens.engine.checkpoint import atomic_path


def _num(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def top_k_accuracy(labels: np.ndarray, probs: np.ndarray, k: int) -> float:
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def classification_report(labels: Sequence[int], probs: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, per-class and macro metrics, confusion matrix and one-vs-rest ROC AUC.

    mean_class_accuracy and the macro averages are over the classes present in ``labels`` (or,
    for precision/recall/F1, in labels or predictions); a class absent from ``labels`` gets None.
    """
    labels, probs = np.asarray(labels, dtype=np.int64), np.asarray(probs, dtype=np.float64)
    n_classes = len(classes)
    if probs.ndim != 2 or probs.shape != (len(labels), n_classes):
        raise ValueError(f"probs must be (N={len(labels)}, K={n_classes}), got {probs.shape}")
    preds = probs.argmax(axis=1)
    present = [k for k in range(n_classes) if (labels == k).any()]
    per_class = {c: (float((preds[labels == k] == k).mean()) if k in present else None)
                 for k, c in enumerate(classes)}
    precision, recall, f1, _ = precision_recall_fscore_support(labels, preds, average="macro", zero_division=0)
    auc: dict[str, float | None] = {}
    for k, c in enumerate(classes):
        positives = labels == k
        auc[c] = _num(roc_auc_score(positives, probs[:, k])) if 0 < positives.sum() < len(labels) else None
    valid_auc = [v for v in auc.values() if v is not None]
    return {
        "n": int(len(labels)),
        "top1": float((preds == labels).mean()) if len(labels) else None,
        "top5": top_k_accuracy(labels, probs, 5) if n_classes >= 5 and len(labels) else None,
        "mean_class_accuracy": float(np.mean([per_class[classes[k]] for k in present])) if present else None,
        "macro_precision": _num(precision), "macro_recall": _num(recall), "macro_f1": _num(f1),
        "per_class_accuracy": per_class,
        "confusion_matrix": confusion_matrix(labels, preds, labels=list(range(n_classes))).astype(int).tolist(),
        "roc_auc": auc,
        "roc_auc_macro": float(np.mean(valid_auc)) if valid_auc else None,
    }


def save_confusion_matrix(cm: Sequence[Sequence[int]], classes: Sequence[str], png_path: str | Path,
                          csv_path: str | Path) -> None:
    """PNG (colours normalised per true class, counts written in the cells) and CSV of counts."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cm = np.asarray(cm, dtype=np.int64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = max(4.0, 0.45 * len(classes) + 2.0)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, label="fraction of true class")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, cm.tolist()):
            writer.writerow([name, *row])


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


class _EvalMode:
    """Put a model in eval mode for a measurement and restore its previous mode afterwards."""

    def __init__(self, model: nn.Module):
        self.model, self.was_training = model, model.training

    def __enter__(self) -> nn.Module:
        return self.model.eval()

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


def _rnn_flops(input_shape, weight_shapes) -> int:
    """Fused RNN kernels: every 2-D weight (input, hidden, projection) is applied at every step."""
    steps = math.prod(input_shape[:-1])  # (T, B) or (B, T), or the total length of a packed batch
    return 2 * steps * sum(math.prod(w) for w in weight_shapes if len(w) == 2)


def _rnn_formulas() -> dict:
    """FlopCounterMode does not count the fused LSTM/GRU kernels (CPU oneDNN, cuDNN); these do."""
    aten = torch.ops.aten
    formulas = {}
    if hasattr(aten, "mkldnn_rnn_layer"):  # one call per layer and direction: w_ih, w_hh, b_ih, b_hh
        formulas[aten.mkldnn_rnn_layer] = lambda x, w_ih, w_hh, *args, **kw: _rnn_flops(x, [w_ih, w_hh])
    if hasattr(aten, "_cudnn_rnn"):  # one call for all layers: the flat weight list
        formulas[aten._cudnn_rnn] = lambda x, weights, *args, **kw: _rnn_flops(x, weights)
    return formulas


def count_flops(model: nn.Module, example_x: torch.Tensor | tuple[torch.Tensor, ...]) -> int:
    """Floating-point operations of one forward pass on ``example_x`` (a multiply-add counts 2);
    a tuple is passed as positional arguments (models with several inputs)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping=_rnn_formulas())
    args = example_x if isinstance(example_x, tuple) else (example_x,)
    with _EvalMode(model), torch.no_grad(), counter:
        model(*args)
    return int(counter.get_total_flops())


def latency_ms(model: nn.Module, example_x: torch.Tensor | tuple[torch.Tensor, ...], repeats: int = 20,
               warmup: int = 3) -> float:
    """Median wall time (ms) of one forward pass on a batch of 1, after ``warmup`` untimed passes;
    a tuple is passed as positional arguments."""
    args = tuple(t[:1] for t in (example_x if isinstance(example_x, tuple) else (example_x,)))
    sync = torch.cuda.synchronize if args[0].is_cuda else (lambda: None)
    times = []
    with _EvalMode(model), torch.inference_mode():
        for i in range(warmup + repeats):
            sync()
            start = time.perf_counter()
            model(*args)
            sync()
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))


# ---------------------------------------------------------------- pose estimation (seed 001, Table IV)
def pck(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, ref_length: np.ndarray, alpha: float) -> float:
    """Percentage of Correct Keypoints as a fraction: among the visible joints, the share whose predicted
    position is within ``alpha * ref_length`` of the truth (Euclidean, inclusive).

    ``pred``, ``gt`` (N, V, 2); ``visible`` (N, V) bool; ``ref_length`` (N,) per sample (Penn Action's
    convention: max(width, height) of the person box; seed 001 reports PCK@0.2/0.1/0.05). A visible
    joint with a non-finite prediction counts as wrong. NaN when no joint is visible.
    """
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    visible, ref = np.asarray(visible, dtype=bool), np.asarray(ref_length, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred and gt must both be (N, V, 2), got {pred.shape} and {gt.shape}")
    if visible.shape != pred.shape[:2] or ref.shape != pred.shape[:1]:
        raise ValueError(f"visible must be {pred.shape[:2]} and ref_length {pred.shape[:1]}, got "
                         f"{visible.shape} and {ref.shape}")
    if not visible.any():
        return float("nan")
    dist = np.linalg.norm(pred - gt, axis=-1)  # (N, V)
    hit = np.nan_to_num(dist, nan=np.inf) <= alpha * ref[:, None]  # (N, V)
    return float(hit[visible].mean())


def heatmap_argmax(heatmaps: np.ndarray | torch.Tensor) -> np.ndarray:
    """(..., V, h, w) maps -> (..., V, 2) peak positions (x = column, y = row) in heatmap pixels.

    The integer argmax refined to sub-pixel by a parabola through the log-values of the peak and its
    two neighbours on each axis (offset clamped to +-0.5): exact for a sampled Gaussian such as
    ``sportlens.data.heatmaps.gaussian_heatmaps``, and plain argmax where a neighbour is missing
    (border) or not positive. A map whose maximum is <= 0 (no peak) gives NaN.
    """
    if isinstance(heatmaps, torch.Tensor):
        heatmaps = heatmaps.detach().float().cpu().numpy()
    hm = np.asarray(heatmaps, dtype=np.float64)
    if hm.ndim < 3:
        raise ValueError(f"heatmaps must be (..., V, h, w), got {hm.shape}")
    *lead, h, w = hm.shape
    flat = hm.reshape(-1, h, w)  # (M, h, w)
    idx = flat.reshape(len(flat), -1).argmax(axis=1)  # (M,)
    ys, xs = np.divmod(idx, w)  # (M,), (M,)
    out = np.stack([xs, ys], axis=1).astype(np.float64)  # (M, 2)
    m = np.arange(len(flat))
    for axis, (pos, size) in enumerate(((xs, w), (ys, h))):
        inside = (pos > 0) & (pos < size - 1)
        lo, hi = np.clip(pos - 1, 0, size - 1), np.clip(pos + 1, 0, size - 1)
        if axis == 0:
            f0, fm, fp = flat[m, ys, xs], flat[m, ys, lo], flat[m, ys, hi]
        else:
            f0, fm, fp = flat[m, ys, xs], flat[m, lo, xs], flat[m, hi, xs]
        ok = inside & (f0 > 0) & (fm > 0) & (fp > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            l0, lm, lp = np.log(np.where(ok, f0, 1.0)), np.log(np.where(ok, fm, 1.0)), np.log(np.where(ok, fp, 1.0))
            curv = lm - 2 * l0 + lp  # < 0 at a strict maximum
            offset = np.where(ok & (curv < 0), 0.5 * (lm - lp) / np.where(curv < 0, curv, -1.0), 0.0)
        out[:, axis] += np.clip(offset, -0.5, 0.5)
    out[flat.reshape(len(flat), -1).max(axis=1) <= 0] = np.nan
    return out.reshape(*lead, 2)
