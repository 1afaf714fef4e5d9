"""Training of the pose forecasters of issue 6 (``msgcn``, ``seq2seq``, ``trajgcn``: any registered
``ForecastModel``) on Penn Action, and their benchmark/product predictor :class:`Forecaster`.

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
Predictions are mapped back with ``pixels = pred * scale + centre``. The models predict residuals from
the last observed pose (their output layers start at zero: a fresh model is the zero-velocity forecast).

Training (:func:`train_forecaster`, settings :class:`TrainConfig`; one loop for every model)
-------------------------------------------------------------------------------------------
Windows from the official train split: protocol B windows (observe 10, predict 16 at the native rate,
every start frame) and protocol A windows (one observed pose, 16 strided steps, every start frame), mixed
``mix_a`` : 1 - ``mix_a`` in each batch, random windows each step; horizontal flips (x -> -x, left/right
swapped with ``PENN13.flip_index``) and small random rotations about the centre as augmentation.
A validation split of ``val_fraction`` of the training CLIPS (seeded; never the test split) selects the
model: the mean of protocol A and B PCK@0.05 at step 16 and over steps 1..16 on up to ``val_windows``
windows of each, scored by ``protocols.evaluate``. AdamW with cosine decay over the wall-time budget.
``tempos`` adds the B windows of the training clips played at other speeds (``protocols.tempo_copies``, as
the kNN index does); measured on a GPU it did not help msgcn (``benchmarks/results/forecast_scaling.md``), so
it is off by default. ``device="cuda"`` runs the same loop on a GPU: the training windows are moved there
once and batches are indexed there; with the same seed a CPU run draws the same batches as before.

Loss. ``loss="l2"`` is eq 12 with a visibility mask: the mean over joints visible in the target of the L2
distance between predicted and true normalised positions. Diagnosis on the validation split (issue 6 run
of 2026-11-28, see ``benchmarks/results/bench_forecast.md``): with eq 12 every model (MS-GCN, and an MLP
check) fitted the training windows far better than the validation ones and still lost to zero velocity at
long horizons: the future of a window is multi-modal (a pitcher may or may not start the throw), the
distance loss pulls the forecast towards an average of the futures, and PCK@0.05 only rewards a forecast
within 5 % of the reference length of the true one, i.e. the MODE. ``loss="pck"`` (default) is a smooth,
mode-seeking surrogate of PCK: ``1 - exp(-d^2 / (2 sigma^2))`` with ``sigma = loss_sigma * t``, where
``t = 0.05 * ref / scale`` is the window's own PCK threshold in normalised units (the clip's reference
length is known at training time only), plus ``loss_l2_weight * d`` so that joints far off still get a
gradient. Joints not visible in the target are left out of both.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from sportlens.forecast.protocols import (
    PCK_THRESHOLD,
    ForecastWindows,
    evaluate,
    protocol_a_windows,
    protocol_b_windows,
    tempo_copies,
)
from sportlens.skeletons import PENN13, Skeleton

OBSERVE = 10
HORIZON = 16
# The forecaster shipped inside the package (issue 6): the default of ``Forecaster`` and ``eval forecast``.
SHIPPED_CHECKPOINT = Path(__file__).resolve().parents[1] / "assets" / "forecast_msgcn_penn13.pt"


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
    """Normalised training windows: x (N, 10, V, 3), y (N, H, V, 2) normalised targets, m (N, H, V) joints
    that count, thr (N,) the PCK@0.05 threshold in normalised units (0.05 * clip reference / window scale)."""

    x: np.ndarray
    y: np.ndarray
    m: np.ndarray
    thr: np.ndarray

    @classmethod
    def from_windows(cls, w: ForecastWindows, num_frames: int = OBSERVE) -> WindowSet:
        x, c, s = normalize_observed(w.observed, num_frames)
        y = (w.targets - c[:, None, None]) / s[:, None, None, None]  # (N, H, V, 2)
        m = w.target_visible & np.isfinite(y).all(-1)  # (N, H, V)
        thr = np.where(np.isfinite(w.ref), PCK_THRESHOLD * w.ref / s, PCK_THRESHOLD)  # (N,)
        return cls(x, np.where(m[..., None], y, 0.0).astype(np.float32), m, thr.astype(np.float32))


def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq 12 with a visibility mask: mean over counted joints of ||pred - target||_2."""
    d = torch.linalg.norm(pred - target, dim=-1)  # (B, H, V)
    return (d * mask).sum() / mask.sum().clamp(min=1)


def pck_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, thr: torch.Tensor,
             sigma: float = 1.0, l2_weight: float = 0.05) -> torch.Tensor:
    """Smooth mode-seeking PCK surrogate (module docstring): mean over counted joints of
    ``1 - exp(-d^2 / (2 (sigma thr)^2)) + l2_weight * d``; pred/target (B, H, V, 2), mask (B, H, V), thr (B,)."""
    d2 = (pred - target).square().sum(-1)  # (B, H, V)
    s2 = (sigma * thr).square()[:, None, None]  # (B, 1, 1)
    rho = 1.0 - torch.exp(-d2 / (2.0 * s2)) + l2_weight * torch.sqrt(d2 + 1e-8)  # (B, H, V)
    return (rho * mask).sum() / mask.sum().clamp(min=1)


def _flip(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Mirror (..., V, C) poses: negate x, swap left/right joints."""
    x = x[..., idx, :].clone()  # (..., V, C)
    x[..., 0] = -x[..., 0]
    return x


def _rotate(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Rotate the first two channels of (B, ..., V, C) about the origin (the centre) by (B, 2, 2)."""
    shape = x.shape
    xy = x[..., :2].reshape(shape[0], -1, 2)  # (B, M, 2)
    xy = torch.matmul(xy, rot.transpose(1, 2)).reshape(*shape[:-1], 2)  # (B, ..., V, 2)
    return torch.cat([xy, x[..., 2:]], -1)  # (B, ..., V, C)


def predict_pixels(model: torch.nn.Module, observed: np.ndarray, horizon: int, batch: int = 2048) -> np.ndarray:
    """Run ``model`` (on its own device) on (N, T, V, 2) pixel windows -> (N, horizon, V, 2) pixels."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for i in range(0, len(observed), batch):
            x, c, s = normalize_observed(observed[i:i + batch], model.num_frames)
            p = model(torch.from_numpy(x).to(device), horizon=horizon).cpu().numpy().astype(np.float64)
            out.append(denormalize(p, c, s))
    return np.concatenate(out) if out else np.zeros((0, horizon, model.num_joints, 2))


def _subset(w: ForecastWindows, idx: np.ndarray) -> ForecastWindows:
    kw = {k: getattr(w, k)[idx] for k in ("observed", "observed_visible", "targets", "target_visible", "mask",
                                          "ref", "clip", "start", "target_frames", "step_frames", "fps")}
    return ForecastWindows(protocol=w.protocol, clip_names=w.clip_names, skipped=w.skipped, skeleton=w.skeleton,
                           **kw)


@dataclass
class TrainConfig:
    """Settings of one forecaster training (every field is recorded in the checkpoint and ``log.json``).

    ``minutes`` is a wall-time budget (the cosine schedule spans it), so a run takes the same time on a
    busy or an idle machine, and does fewer steps on a busy one: ``log.json`` records the steps done.
    """

    model: str = "msgcn"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    minutes: float = 8.0
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    loss: str = "pck"  # "pck" (mode-seeking PCK surrogate) | "l2" (eq 12)
    loss_sigma: float = 1.0  # "pck": sigma in units of the window's PCK threshold
    loss_l2_weight: float = 0.05  # "pck": weight of the plain distance term
    mix_a: float = 0.5  # share of protocol A windows in a batch
    flip: bool = True
    rotate_deg: float = 10.0  # uniform random rotation in [-rotate_deg, rotate_deg]
    val_fraction: float = 0.1
    val_windows: int = 3000
    eval_every: int = 250
    seed: int = 0
    threads: int = 1
    tempos: tuple[float, ...] = ()  # B windows also from the training clips played at these speeds
    device: str = "cpu"  # "cuda" trains on a GPU (same loop; the windows are moved there once)


def _score(res: dict[str, dict]) -> float:
    """Model selection: mean of A and B PCK at step 16 and over all steps (validation windows)."""
    return float(np.mean([np.mean([r["pck"][-1], np.mean(r["pck"])]) for r in res.values()]))


def train_forecaster(data: str | Path | Sequence[Any], out_dir: str | Path, cfg: TrainConfig | None = None,
                     log: Callable[[str], Any] = print) -> dict[str, Any]:
    """Train ``cfg.model`` on the train split of Penn Action at ``data`` (or of the given clips) for
    ``cfg.minutes`` of wall time; writes ``out_dir/<model>.pt`` (best validation
    score) and ``out_dir/log.json``. Returns the summary dict (``train_seconds`` = wall time of the loop)."""
    from sportlens.data.penn import load_penn_action
    from sportlens.engine.checkpoint import save_checkpoint
    from sportlens.models import ForecastModel, create_model

    cfg = cfg or TrainConfig()
    if cfg.loss not in ("pck", "l2"):
        raise ValueError(f"loss {cfg.loss!r}: use 'pck' or 'l2'")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    kwargs = {"num_frames": OBSERVE, "horizon": HORIZON, **cfg.model_kwargs}
    model = create_model(cfg.model, **kwargs)
    if not isinstance(model, ForecastModel):
        raise ValueError(f"{cfg.model!r} is not a ForecastModel")
    if isinstance(data, (str, Path)):
        clips, _ = load_penn_action(data, split="train")
    else:  # clips given directly (tests): their training split
        clips = [c for c in data if getattr(c, "split", "train") == "train"]
    order = rng.permutation(len(clips))
    n_val = max(1, int(round(cfg.val_fraction * len(clips))))
    val_clips = [clips[i] for i in order[:n_val]]
    tr_clips = [clips[i] for i in order[n_val:]]
    t0 = time.perf_counter()
    builders = (("A", protocol_a_windows), ("B", protocol_b_windows))
    train = {"A": WindowSet.from_windows(protocol_a_windows(tr_clips), model.num_frames),
             "B": WindowSet.from_windows(protocol_b_windows([*tr_clips, *tempo_copies(tr_clips, cfg.tempos)]),
                                         model.num_frames)}
    val = {}
    for p, b in builders:
        w = b(val_clips)
        val[p] = _subset(w, np.sort(rng.choice(len(w), min(cfg.val_windows, len(w)), replace=False)))
    log(f"{cfg.model}: windows train A {len(train['A'].x)}, B {len(train['B'].x)}; val clips {n_val} "
        f"({time.perf_counter() - t0:.1f} s)")
    dev = torch.device(cfg.device)
    model.to(dev)
    tensors = {p: tuple(torch.from_numpy(z).to(dev) for z in (w.x, w.y, w.m, w.thr)) for p, w in train.items()}
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    flip_idx = torch.as_tensor(PENN13.flip_index, dtype=torch.long, device=dev)
    n_a = int(round(cfg.mix_a * cfg.batch))
    budget = cfg.minutes * 60.0
    start, step, best, history = time.perf_counter(), 0, -1.0, []
    ckpt = out_dir / f"{cfg.model}.pt"
    while True:
        frac = min((time.perf_counter() - start) / budget, 1.0)
        for g in opt.param_groups:
            g["lr"] = cfg.lr * 0.5 * (1 + np.cos(np.pi * frac))
        model.train()
        parts = []
        for p, n in (("A", n_a), ("B", cfg.batch - n_a)):
            i = torch.from_numpy(rng.integers(0, len(train[p].x), n)).to(dev)
            parts.append(tuple(z[i] for z in tensors[p]))
        x, y, m, thr = (torch.cat(z) for z in zip(*parts))  # (B,10,V,3) (B,H,V,2) (B,H,V) (B,)
        m = m.float()
        if cfg.flip:
            f = torch.rand(len(x), device=dev) < 0.5
            x[f], y[f], m[f] = _flip(x[f], flip_idx), _flip(y[f], flip_idx), m[f][..., flip_idx]
        if cfg.rotate_deg > 0:
            a = (torch.rand(len(x), device=dev) * 2 - 1) * np.deg2rad(cfg.rotate_deg)  # (B,)
            rot = torch.stack([torch.cos(a), -torch.sin(a), torch.sin(a), torch.cos(a)], -1).view(-1, 2, 2)
            x, y = _rotate(x, rot), _rotate(y, rot)  # (B,10,V,3), (B,H,V,2)
        pred = model(x)  # (B, H, V, 2)
        loss = (pck_loss(pred, y, m, thr, cfg.loss_sigma, cfg.loss_l2_weight) if cfg.loss == "pck"
                else masked_l2(pred, y, m))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        done = time.perf_counter() - start >= budget
        if step % cfg.eval_every == 0 or done:
            res = {p: evaluate(predict_pixels(model, w.observed, w.horizon), w) for p, w in val.items()}
            score = _score(res)
            history.append({"step": step, "s": round(time.perf_counter() - start, 1), "loss": loss.item(),
                            "val_pck16_A": res["A"]["pck"][-1], "val_pck16_B": res["B"]["pck"][-1],
                            "val_pck_mean_A": float(np.mean(res["A"]["pck"])),
                            "val_pck_mean_B": float(np.mean(res["B"]["pck"])), "score": score})
            log(json.dumps(history[-1]))
            if score > best:
                best = score
                save_checkpoint(ckpt, model_name=cfg.model, model_kwargs=kwargs, model=model, classes=[],
                                data_spec={"normalize": "sportlens.forecast.training.normalize_observed",
                                           "observe": OBSERVE, "horizon": HORIZON, "skeleton": "penn13"},
                                epoch=step, metrics=history[-1], config=asdict(cfg))
        if done:
            break
    summary = {"checkpoint": str(ckpt), "model": cfg.model, "steps": step, "best_val": best,
               "best": max(history, key=lambda h: h["score"]), "history": history,
               "train_seconds": time.perf_counter() - start, "prep_seconds": start - t0,
               "model_kwargs": kwargs, "config": asdict(cfg)}
    if ckpt.is_file():  # record the cost of the whole run in the best checkpoint (benchmark cost table)
        saved = torch.load(ckpt, map_location="cpu", weights_only=True)
        saved["extra"] = {"train_seconds": summary["train_seconds"], "steps": step, "prep_seconds": start - t0}
        torch.save(saved, ckpt)
    (out_dir / "log.json").write_text(json.dumps(summary, indent=1))
    return summary


def train_msgcn(data: str | Path, out_dir: str | Path, *, minutes: float = 8.0, log: Callable[[str], Any] = print,
                model_kwargs: dict | None = None, **settings: Any) -> dict[str, Any]:
    """``train_forecaster`` for ``msgcn`` (kept for the first callers); ``settings`` are ``TrainConfig`` fields."""
    cfg = TrainConfig(model="msgcn", minutes=minutes, model_kwargs=dict(model_kwargs or {}), **settings)
    return train_forecaster(data, out_dir, cfg, log=log)


class Forecaster:
    """Predictor from a checkpoint of any forecaster: ``Forecaster(path)(observed (N,T,V,2) px, horizon)``
    -> (N, horizon, V, 2) pixels, NaN-free wherever a joint was seen in the window (the ``PREDICTORS``
    hook of ``benchmarks/bench_forecast.py``, ``eval forecast`` and ``forecast/online.py``).

    ``checkpoint=None`` loads the model shipped in the package (:data:`SHIPPED_CHECKPOINT`).
    """

    def __init__(self, checkpoint: str | Path | None = None, threads: int | None = None) -> None:
        from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint

        if threads:
            torch.set_num_threads(threads)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else SHIPPED_CHECKPOINT
        ckpt = load_checkpoint(self.checkpoint)
        self.model_name: str = ckpt["model_name"]
        self.model = build_from_checkpoint(ckpt).float().eval()  # float16-shipped weights run in float32

    def __call__(self, observed: np.ndarray, horizon: int = HORIZON) -> np.ndarray:
        return predict_pixels(self.model, observed, horizon)


MsgcnForecaster = Forecaster  # the first name of this class (forecast/online.py, tests)


def main(argv: list[str] | None = None) -> int:
    """``python -m sportlens.forecast.training DATA OUT_DIR [MINUTES] [--model NAME] [--kw k=v ...] ...``"""
    ap = argparse.ArgumentParser(description="train a pose forecaster on Penn Action (issue 6)")
    ap.add_argument("data", type=Path, help="Penn Action labels/ folder (or its parent)")
    ap.add_argument("out", type=Path, help="output folder: <model>.pt and log.json")
    ap.add_argument("minutes", type=float, nargs="?", default=TrainConfig.minutes)
    ap.add_argument("--model", default="msgcn")
    ap.add_argument("--kw", nargs="*", default=[], metavar="K=V",
                    help="model keyword arguments, JSON values (e.g. hidden=96 multiscale=false)")
    for f in ("batch", "lr", "weight_decay", "loss", "loss_sigma", "loss_l2_weight", "mix_a", "rotate_deg",
              "val_fraction", "val_windows", "eval_every", "seed", "threads"):
        default = getattr(TrainConfig, f)
        ap.add_argument(f"--{f.replace('_', '-')}", type=type(default), default=default)
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--tempos", type=float, nargs="*", default=[], help="extra B windows at these speeds")
    ap.add_argument("--device", default=TrainConfig.device, help="cpu (default) or cuda")
    a = ap.parse_args(argv)
    kw = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.kw)}
    cfg = TrainConfig(model=a.model, model_kwargs=kw, minutes=a.minutes, flip=not a.no_flip,
                      tempos=tuple(a.tempos), device=a.device,
                      **{f: getattr(a, f) for f in ("batch", "lr", "weight_decay", "loss", "loss_sigma",
                                                    "loss_l2_weight", "mix_a", "rotate_deg", "val_fraction",
                                                    "val_windows", "eval_every", "seed", "threads")})
    summary = train_forecaster(a.data, a.out, cfg)
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
