"""Training of the ``msgcn`` pose forecaster on Penn Action, and its benchmark predictor (issue 6).

Normalisation (:func:`normalize_observed`, the same at training and at inference, outside the model)
---------------------------------------------------------------------------------------------------
Observed poses (N, T, V, 2) pixels with NaN where a joint is missing become (N, num_frames, V, 3):
- centre: the hip centre (mean of both hips) of the last observed frame; where a hip is missing there,
  the mean of the joints visible in the last frame; else of the whole window; else 0;
- scale: max(w, h) of the box around all visible joints of the observed window (at least 1 pixel);
  the predictor sees only the observed window, so the clip's reference length is not available;
- missing joints are filled forward then backward in time; a joint never visible sits at the centre;
- channel 3 is the visibility m (1 seen, 0 filled); windows shorter than ``num_frames`` (protocol A
  observes one pose) are left-padded with copies of their first frame and m = 0, which also tells the
  model which protocol it is in (A's steps are ``(T-1)//17`` frames apart, B's one frame).
Predictions are mapped back with ``pixels = pred * scale + centre``.

Training (:func:`train_msgcn`)
------------------------------
Windows from the official train split: protocol B windows (observe 10, predict 16 at the native rate,
every start frame) and protocol A windows (one observed pose, 16 strided steps), mixed half and half in
each batch, random windows each step; horizontal flips (x -> -x, left/right swapped) as augmentation.
A validation split of 10 % of the training CLIPS (seeded) selects the model: the mean of protocol A and
B PCK@0.05 at step 16 on up to ``val_windows`` windows of each, scored by ``protocols.evaluate``.
Loss (eq 12, masked): the mean over joints visible in the target of the L2 distance between predicted
and true normalised positions, averaged over the 16 steps. AdamW with cosine decay.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sportlens.forecast.protocols import ForecastWindows, evaluate, protocol_a_windows, protocol_b_windows
from sportlens.skeletons import PENN13, Skeleton

OBSERVE = 10
HORIZON = 16


def _ffill(x: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Forward then backward fill along time of (N, T, V, 2) where ``vis`` (N, T, V) is False."""
    x = x.copy()
    T = x.shape[1]
    for t in range(1, T):
        miss = ~vis[:, t] & vis[:, t - 1]  # (N, V)
        x[:, t][miss] = x[:, t - 1][miss]
        vis[:, t] |= miss
    for t in range(T - 2, -1, -1):
        miss = ~vis[:, t] & vis[:, t + 1]
        x[:, t][miss] = x[:, t + 1][miss]
        vis[:, t] |= miss
    return x


def normalize_observed(observed: np.ndarray, num_frames: int = OBSERVE,
                       skeleton: Skeleton = PENN13) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, T, V, 2) pixels (NaN missing) -> (x (N, num_frames, V, 3) float32, centre (N, 2), scale (N,)).

    See the module docstring for the rules.
    """
    obs = np.asarray(observed, dtype=np.float64)[:, -num_frames:]  # (N, T, V, 2)
    N, T, V, _ = obs.shape
    vis = np.isfinite(obs).all(-1)  # (N, T, V)
    hips = [skeleton.index("left_hip"), skeleton.index("right_hip")]
    last, lvis = obs[:, -1], vis[:, -1]  # (N, V, 2), (N, V)
    with np.errstate(invalid="ignore"):
        hip_c = last[:, hips].mean(1)  # (N, 2), NaN if a hip is missing
        cnt = lvis.sum(1, keepdims=True)  # (N, 1)
        last_c = np.where(lvis[..., None], last, 0).sum(1) / np.maximum(cnt, 1)  # (N, 2)
        wcnt = vis.sum((1, 2))[:, None]  # (N, 1)
        win_c = np.where(vis[..., None], obs, 0).sum((1, 2)) / np.maximum(wcnt, 1)  # (N, 2)
    centre = np.where(np.isfinite(hip_c), hip_c, np.where(cnt > 0, last_c, win_c))  # (N, 2)
    lo = np.where(vis[..., None], obs, np.inf).min((1, 2))  # (N, 2)
    hi = np.where(vis[..., None], obs, -np.inf).max((1, 2))  # (N, 2)
    ext = np.where(np.isfinite(hi - lo), hi - lo, 0.0).max(1)  # (N,)
    scale = np.maximum(ext, 1.0)  # (N,)
    rel = (obs - centre[:, None, None]) / scale[:, None, None, None]  # (N, T, V, 2)
    filled = _ffill(np.where(vis[..., None], rel, 0.0), vis.copy())  # (N, T, V, 2)
    filled = np.where(np.isfinite(filled), filled, 0.0)
    x = np.concatenate([filled, vis[..., None].astype(np.float64)], -1)  # (N, T, V, 3)
    if T < num_frames:
        pad = np.repeat(x[:, :1], num_frames - T, axis=1).copy()  # (N, num_frames - T, V, 3)
        pad[..., 2] = 0.0
        x = np.concatenate([pad, x], 1)  # (N, num_frames, V, 3)
    return x.astype(np.float32), centre, scale


def denormalize(pred: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(N, H, V, 2) normalised -> pixels."""
    return pred * scale[:, None, None, None] + centre[:, None, None]


@dataclass
class WindowSet:
    """Normalised training windows: x (N, 10, V, 3), y (N, H, V, 2) normalised targets, m (N, H, V)."""

    x: np.ndarray
    y: np.ndarray
    m: np.ndarray

    @classmethod
    def from_windows(cls, w: ForecastWindows) -> WindowSet:
        x, c, s = normalize_observed(w.observed)
        y = (w.targets - c[:, None, None]) / s[:, None, None, None]  # (N, H, V, 2)
        m = w.target_visible & np.isfinite(y).all(-1)  # (N, H, V)
        return cls(x, np.where(m[..., None], y, 0.0).astype(np.float32), m)


def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq 12 with a visibility mask: mean over counted joints of ||pred - target||_2."""
    d = torch.linalg.norm(pred - target, dim=-1)  # (B, H, V)
    return (d * mask).sum() / mask.sum().clamp(min=1)


def _flip(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Mirror (..., V, C) poses: negate x, swap left/right joints."""
    x = x[..., idx, :].clone()  # (..., V, C)
    x[..., 0] = -x[..., 0]
    return x


def predict_pixels(model: torch.nn.Module, observed: np.ndarray, horizon: int, batch: int = 2048) -> np.ndarray:
    """Run ``model`` on (N, T, V, 2) pixel windows -> (N, horizon, V, 2) pixels."""
    model.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(observed), batch):
            x, c, s = normalize_observed(observed[i:i + batch], model.num_frames)
            p = model(torch.from_numpy(x), horizon=horizon).numpy().astype(np.float64)  # (b, H, V, 2)
            out.append(denormalize(p, c, s))
    return np.concatenate(out) if out else np.zeros((0, horizon, model.num_joints, 2))


def _subset(w: ForecastWindows, idx: np.ndarray) -> ForecastWindows:
    kw = {k: getattr(w, k)[idx] for k in ("observed", "observed_visible", "targets", "target_visible", "mask",
                                          "ref", "clip", "start", "target_frames", "step_frames", "fps")}
    return ForecastWindows(protocol=w.protocol, clip_names=w.clip_names, skipped=w.skipped, skeleton=w.skeleton,
                           **kw)


def train_msgcn(data: str | Path, out_dir: str | Path, *, minutes: float = 8.0, batch: int = 128,
                lr: float = 2e-3, weight_decay: float = 1e-4, hidden: int = 64, val_fraction: float = 0.1,
                val_windows: int = 3000, eval_every: int = 250, seed: int = 0, threads: int = 2,
                model_kwargs: dict | None = None, log=print) -> dict[str, Any]:
    """Train ``msgcn`` for ``minutes`` of wall time; writes ``out_dir/msgcn.pt`` (best validation) and
    ``out_dir/log.json``. Returns the summary dict."""
    from sportlens.data.penn import load_penn_action
    from sportlens.engine.checkpoint import save_checkpoint
    from sportlens.models import create_model

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clips, _ = load_penn_action(data, split="train")
    order = rng.permutation(len(clips))
    n_val = max(1, int(round(val_fraction * len(clips))))
    val_clips = [clips[i] for i in order[:n_val]]
    tr_clips = [clips[i] for i in order[n_val:]]
    t0 = time.perf_counter()
    train = {p: WindowSet.from_windows(b(tr_clips)) for p, b in (("A", protocol_a_windows), ("B", protocol_b_windows))}
    val = {}
    for p, b in (("A", protocol_a_windows), ("B", protocol_b_windows)):
        w = b(val_clips)
        val[p] = _subset(w, np.sort(rng.choice(len(w), min(val_windows, len(w)), replace=False)))
    log(f"windows: train A {len(train['A'].x)}, B {len(train['B'].x)}; val clips {n_val} "
        f"({time.perf_counter() - t0:.1f} s)")
    kwargs = {"hidden": hidden, **(model_kwargs or {})}
    model = create_model("msgcn", **kwargs)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    flip_idx = torch.as_tensor(PENN13.flip_index, dtype=torch.long)
    budget = minutes * 60.0
    start, step, best, history = time.perf_counter(), 0, -1.0, []
    ckpt = out_dir / "msgcn.pt"
    while True:
        elapsed = time.perf_counter() - start
        frac = min(elapsed / budget, 1.0)
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + np.cos(np.pi * frac))
        model.train()
        xs, ys, ms = [], [], []
        for p in ("A", "B"):
            ws = train[p]
            i = rng.integers(0, len(ws.x), batch // 2)
            xs.append(ws.x[i]), ys.append(ws.y[i]), ms.append(ws.m[i])
        x, y = torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))  # (B,10,V,3) (B,H,V,2)
        m = torch.from_numpy(np.concatenate(ms)).float()  # (B, H, V)
        flip = torch.rand(len(x)) < 0.5
        x[flip], y[flip], m[flip] = _flip(x[flip], flip_idx), _flip(y[flip], flip_idx), m[flip][..., flip_idx]
        loss = masked_l2(model(x), y, m)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        done = time.perf_counter() - start >= budget
        if step % eval_every == 0 or done:
            res = {p: evaluate(predict_pixels(model, w.observed, w.horizon), w) for p, w in val.items()}
            score = 0.5 * (res["A"]["pck"][-1] + res["B"]["pck"][-1])
            history.append({"step": step, "s": round(time.perf_counter() - start, 1), "loss": loss.item(),
                            "val_pck16_A": res["A"]["pck"][-1], "val_pck16_B": res["B"]["pck"][-1]})
            log(json.dumps(history[-1]))
            if score > best:
                best = score
                save_checkpoint(ckpt, model_name="msgcn", model_kwargs=kwargs, model=model, classes=[],
                                data_spec={"normalize": "sportlens.forecast.training.normalize_observed",
                                           "observe": OBSERVE, "horizon": HORIZON, "skeleton": "penn13"},
                                epoch=step, metrics=history[-1], config={"lr": lr, "batch": batch,
                                                                         "minutes": minutes, "seed": seed})
        if done:
            break
    summary = {"checkpoint": str(ckpt), "steps": step, "best_val": best, "history": history,
               "train_seconds": time.perf_counter() - start, "model_kwargs": kwargs}
    (out_dir / "log.json").write_text(json.dumps(summary, indent=1))
    return summary


class MsgcnForecaster:
    """Benchmark predictor from a checkpoint: ``MsgcnForecaster(path)(observed (N,T,V,2) px, horizon)``
    -> (N, horizon, V, 2) pixels (the ``PREDICTORS`` hook of ``benchmarks/bench_forecast.py``)."""

    def __init__(self, checkpoint: str | Path, threads: int | None = None) -> None:
        from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint

        if threads:
            torch.set_num_threads(threads)
        self.model = build_from_checkpoint(load_checkpoint(checkpoint)).eval()

    def __call__(self, observed: np.ndarray, horizon: int = HORIZON) -> np.ndarray:
        return predict_pixels(self.model, observed, horizon)


if __name__ == "__main__":  # python -m sportlens.forecast.training DATA OUT_DIR [MINUTES]
    import sys

    print(json.dumps({k: v for k, v in train_msgcn(sys.argv[1], sys.argv[2], minutes=float(sys.argv[3])
                                                  if len(sys.argv) > 3 else 8.0).items() if k != "history"}))
