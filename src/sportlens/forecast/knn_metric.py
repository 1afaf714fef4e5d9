"""A learned re-ranking metric for the kNN forecaster's protocol B neighbours (issue 6).

Why: the hand-made search feature of :mod:`sportlens.forecast.knn` (positions of 4 observed frames and 30 x
their velocities, PCA) finds windows in the same phase of the same motion, but among its 32 nearest the
neighbours' futures disagree; an oracle that knew which of them to keep would gain 15-20 points at step 16
(``benchmarks/results/bench_forecast_headroom.md``). A gradient-boosted re-ranker on summary features (rank,
distance, tempo, agreement...) did not help (``knn.py`` docstring). This one learns the metric itself: an
embedding ``g`` of the search feature such that, among the hand metric's nearest ``candidates`` (128) of a
window, the nearer in ``g`` are the ones whose futures forecast that window best.

Training (:func:`train_metric`), on the INDEX's own training clips, never on a clip of the validation or test
split:
- anchors: every ``anchor_every``-th protocol B window of the index clips; for each, its ``candidates``
  nearest index entries by the hand metric that come from ANOTHER source clip (its own clip, and that clip's
  tempo copies, would be a trivially good match unlike any real query);
- the score of a candidate: the number of counted joints its future (as a residual on the anchor's last pose,
  exactly as the forecaster uses it) puts within PCK@0.05 over the 16 steps, per counted joint and step x 16;
- loss: listwise cross-entropy between ``softmax(score / tau)`` and ``softmax(-|g(q) - g(c)|^2 * t)`` over the
  candidates (``t`` learned); a candidate found for the mirrored anchor is compared with ``g`` of the mirrored
  anchor, as in the search;
- ``g(z) = z + MLP(z)`` (two hidden layers, tanh-GELU), the last layer zero-initialised so that training starts
  from the hand metric; AdamW, wall-time budget.
Inference is numpy (:class:`LearnedMetric`): the index entries are embedded once, the query and its mirror
per call; the forecaster re-orders its hand-metric candidates by the learned distance and keeps its ``k``.

Measured on the validation split of the training clips (2026-11-28, exploration scripts; the benchmark's
numbers are in ``bench_forecast.md``): PCK@0.05 at step 16 / mean over steps 1..16 of the median of the k
kept, hand metric k 32: 54.7 / 74.5; learned, 4 minutes (686 steps): k 32 55.0 / 74.8; 10 minutes (1986
steps): k 16 55.7 / 75.3, k 32 55.6 / 75.2, k 48 55.3 / 74.9; 16 minutes (3082 steps): k 32 55.5 / 75.2 (no
better: 10 minutes kept). Scoring candidates by step 16 alone instead of all steps: k 32 55.5 / 75.1 (not kept).
The benchmark run (``knn_lm``, 10 minutes, k 32): validation 55.3 / 75.1, test 60.3 / 78.4 (knn 59.8 / 78.0).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from sportlens.forecast.protocols import PCK_THRESHOLD, protocol_b_windows


@dataclass
class MetricConfig:
    """Defaults of the learned metric (module docstring)."""

    candidates: int = 128  # hand-metric neighbours re-ranked (training and inference)
    hidden: int = 256
    tau: float = 2.0  # target softmax temperature on the score (per counted joint-step x 16)
    anchor_every: int = 2  # every n-th protocol B window of the index clips is an anchor
    minutes: float = 10.0  # wall-time budget of the optimiser
    max_steps: int = 0  # 0 = no limit but the budget (tests set a few)
    batch: int = 256
    lr: float = 1e-3
    seed: int = 0


def _gelu(x: np.ndarray) -> np.ndarray:
    """tanh-approximated GELU, the same function as ``torch.nn.GELU(approximate="tanh")``."""
    return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608) * (x + np.float32(0.044715) * x ** 3)))


class LearnedMetric:
    """``embed(z (N, d)) -> (N, d)``: ``z + W3 gelu(W2 gelu(W1 z + b1) + b2) + b3`` in numpy float32.

    ``z`` is a search feature in the PCA basis of the index the metric was trained on (``mean`` (D,) and
    ``comps`` (D, d), kept with the weights): :meth:`project` takes raw search features (N, D) there, so an
    index with another basis of its own (rebuilt from saved, quantised frames; built from more clips) uses the
    metric exactly (``KnnForecaster.set_metric``)."""

    KEYS = ("w1", "b1", "w2", "b2", "w3", "b3", "mean", "comps")

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any] | None = None) -> None:
        missing = [k for k in self.KEYS if k not in weights]
        if missing:
            raise ValueError(f"learned metric weights lack {', '.join(missing)}")
        self.w = {k: np.asarray(weights[k], np.float32) for k in self.KEYS}
        self.config = dict(config or {})
        self.candidates = int(self.config.get("candidates", MetricConfig.candidates))
        self.mean, self.comps = self.w["mean"], self.w["comps"]  # (D,), (D, d) the training index's basis

    def project(self, raw: np.ndarray) -> np.ndarray:
        """Raw search features (N, D) (``KnnForecaster._features``) -> the metric's PCA basis (N, d)."""
        if raw.shape[-1] != self.comps.shape[0]:
            raise ValueError(f"the index's search feature has {raw.shape[-1]} values, the metric was trained on "
                             f"{self.comps.shape[0]}: train the metric again for this KnnConfig")
        return ((raw - self.mean) @ self.comps).astype(np.float32)

    def embed(self, z: np.ndarray, chunk: int = 65536) -> np.ndarray:
        w = self.w
        out = np.empty((len(z), w["w3"].shape[0]), np.float32)
        for i in range(0, len(z), chunk):
            x = np.asarray(z[i:i + chunk], np.float32)  # (n, d)
            h = _gelu(x @ w["w1"].T + w["b1"])  # (n, hidden)
            h = _gelu(h @ w["w2"].T + w["b2"])
            out[i:i + chunk] = x + h @ w["w3"].T + w["b3"]
        return out

    def arrays(self, prefix: str = "metric_") -> dict[str, np.ndarray]:
        """Weights for ``np.savez`` (see :meth:`from_arrays`)."""
        import json

        return {**{prefix + k: v for k, v in self.w.items()}, prefix + "config": np.array(json.dumps(self.config))}

    @classmethod
    def from_arrays(cls, z: Any, prefix: str = "metric_") -> LearnedMetric | None:
        import json

        if prefix + "w1" not in getattr(z, "files", z):
            return None
        return cls({k: z[prefix + k] for k in cls.KEYS}, json.loads(str(z[prefix + "config"])))


def mine_candidates(f: Any, clips: Sequence[Any], cfg: MetricConfig, batch: int = 256) -> dict[str, np.ndarray]:
    """Anchors of the index clips with their hand-metric candidates from other clips and the candidates' scores.

    ``clips`` must be the clips the index ``f`` (a ``KnnForecaster`` without a metric) was built from, in the
    same order. Returns q / qf (N, d) the anchor's PCA feature and its mirror's, cand (N, C) entry ids,
    flipped (N, C), score (N, C) float32 and clip (N,) the anchor's clip (index into ``clips``)."""
    from sportlens.forecast.knn import _flip_norm

    e = f.entries["B"]
    w = protocol_b_windows(clips)
    source = {c.name: i for i, c in enumerate(clips)}
    sel = np.arange(0, len(w), cfg.anchor_every)
    sel = sel[w.mask[sel].any((1, 2))]  # an anchor with no counted joint scores nothing
    C = cfg.candidates
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("q", "qf", "cand", "flipped", "score", "clip")}
    for i in range(0, len(sel), batch):
        ix = sel[i:i + batch]
        obs = w.observed[ix]
        nb = f.neighbours(obs, k=2 * C, rerank=False)
        own = np.array([source[w.clip_names[c]] for c in w.clip[ix]])
        other = f.entry_source["B"][nb["ids"]] != own[:, None]  # (n, 2C)
        o = np.argsort(~other, 1, kind="stable")[:, :C]  # the C nearest from other clips
        ids, fl = np.take_along_axis(nb["ids"], o, 1), np.take_along_axis(nb["flipped"], o, 1)
        x = nb["x"]  # (n, 10, V, 3) normalised
        r = f.residuals("B", ids, fl)  # (n, C, H, V, 2)
        # every candidate's future as the forecaster would use it: (n * C) windows of one neighbour each
        pred = f.forecast_from_residual(np.repeat(obs, C, 0), np.repeat(x, C, 0), r.reshape(-1, *r.shape[2:]),
                                        w.horizon).reshape(r.shape)  # (n, C, H, V, 2) pixels
        err = np.linalg.norm(pred - w.targets[ix][:, None], axis=-1)  # (n, C, H, V); NaN -> not a hit
        hit = (err <= PCK_THRESHOLD * w.ref[ix][:, None, None, None]) & w.mask[ix][:, None]
        per_step = np.maximum(w.mask[ix].sum((1, 2)) / w.horizon, 1.0)  # (n,) counted joints per step
        out["score"].append((hit.sum((2, 3)) / per_step[:, None]).astype(np.float32))
        out["q"].append(((f._features(x, "B") - e.mean) @ e.comps).astype(np.float32))
        out["qf"].append(((f._features(_flip_norm(x, f.flip_idx), "B") - e.mean) @ e.comps).astype(np.float32))
        out["cand"].append(ids.astype(np.int64))
        out["flipped"].append(fl)
        out["clip"].append(own)
    return {k: np.concatenate(v) for k, v in out.items()}


def _torch_metric(d: int, hidden: int):
    import torch

    class G(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1, self.l2, self.l3 = (torch.nn.Linear(d, hidden), torch.nn.Linear(hidden, hidden),
                                         torch.nn.Linear(hidden, d))
            torch.nn.init.zeros_(self.l3.weight)  # start at the hand metric
            torch.nn.init.zeros_(self.l3.bias)
            self.log_t = torch.nn.Parameter(torch.zeros(()))
            self.act = torch.nn.GELU(approximate="tanh")

        def forward(self, z):  # (N, d) -> (N, d)
            return z + self.l3(self.act(self.l2(self.act(self.l1(z)))))

    return G()


def train_metric(f: Any, clips: Sequence[Any], cfg: MetricConfig | None = None,
                 progress: Callable[[int, float], None] | None = None) -> tuple[LearnedMetric, dict[str, Any]]:
    """Train the metric for index ``f`` built from ``clips`` (module docstring); returns it and a summary
    (anchors, steps, seconds, final loss)."""
    import torch

    cfg = cfg or MetricConfig()
    t_mine = time.perf_counter()
    data = mine_candidates(f, clips, cfg)
    mine_s = time.perf_counter() - t_mine
    torch.manual_seed(cfg.seed)
    feat = torch.from_numpy(np.ascontiguousarray(f.entries["B"].feat, np.float32))  # (E, d) index features
    q, qf = torch.from_numpy(data["q"]), torch.from_numpy(data["qf"])  # (N, d)
    cand, fl = torch.from_numpy(data["cand"]), torch.from_numpy(data["flipped"])  # (N, C)
    target = torch.softmax(torch.from_numpy(data["score"]) / cfg.tau, 1)  # (N, C)
    g = _torch_metric(feat.shape[1], cfg.hidden)
    opt = torch.optim.AdamW(g.parameters(), cfg.lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(cfg.seed)
    t0, step, loss = time.perf_counter(), 0, torch.zeros(())
    while time.perf_counter() - t0 < cfg.minutes * 60 and (cfg.max_steps <= 0 or step < cfg.max_steps):
        ix = torch.randint(0, len(q), (cfg.batch,), generator=gen)
        gc = g(feat[cand[ix].reshape(-1)]).reshape(len(ix), cand.shape[1], -1)  # (B, C, d)
        gq = torch.where(fl[ix][..., None], g(qf[ix])[:, None], g(q[ix])[:, None])  # (B, C, d)
        logit = -((gq - gc) ** 2).sum(-1) * g.log_t.exp()  # (B, C)
        loss = -(target[ix] * torch.log_softmax(logit, 1)).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if progress is not None and step % 100 == 0:
            progress(step, float(loss.detach()))
    sd = {k: v.detach().numpy() for k, v in g.state_dict().items()}
    e = f.entries["B"]
    weights = {"w1": sd["l1.weight"], "b1": sd["l1.bias"], "w2": sd["l2.weight"], "b2": sd["l2.bias"],
               "w3": sd["l3.weight"], "b3": sd["l3.bias"], "mean": e.mean, "comps": e.comps}
    summary = {"anchors": len(q), "steps": step, "train_s": time.perf_counter() - t0, "mine_s": mine_s,
               "loss": float(loss.detach()), "config": asdict(cfg)}
    return LearnedMetric(weights, asdict(cfg)), summary


def main(argv: list[str] | None = None) -> int:
    """``python -m sportlens.forecast.knn_metric DATA OUT.npz [MINUTES]``: build the kNN index from the official
    TRAIN split of Penn Action at DATA, train its learned metric, save both (``KnnForecaster.save``); then
    ``sportlens eval forecast --model knn --checkpoint OUT.npz`` uses it. The metric is trained on the index it
    is saved with (all training clips: no validation clips are held out here; ``bench_forecast.py`` does that)."""
    import argparse
    import json
    from pathlib import Path

    import torch

    from sportlens.data.penn import load_penn_action
    from sportlens.errors import InputError
    from sportlens.forecast.knn import KnnForecaster

    ap = argparse.ArgumentParser(description="train the kNN forecaster's learned metric on Penn Action (issue 6)")
    ap.add_argument("data", type=Path, help="Penn Action folder (with labels/)")
    ap.add_argument("out", type=Path, help="the index with its metric, .npz")
    ap.add_argument("minutes", type=float, nargs="?", default=MetricConfig.minutes)
    ap.add_argument("--anchor-every", type=int, default=MetricConfig.anchor_every,
                    help="every n-th protocol B window of the training clips is an anchor")
    a = ap.parse_args(argv)
    if a.out.suffix != ".npz":
        raise SystemExit(f"error: {a.out}: the index is written as .npz; give a path ending in .npz")
    torch.set_num_threads(1)
    try:
        clips, _ = load_penn_action(a.data, split="train")
    except InputError as e:
        raise SystemExit(f"error: {e}") from None
    f = KnnForecaster.build(clips)
    metric, summary = train_metric(f, clips, MetricConfig(minutes=a.minutes, anchor_every=max(1, a.anchor_every)),
                                   lambda s, loss: print(f"step {s}: loss {loss:.4f}", flush=True))
    f.set_metric(metric)
    tmp = a.out.with_name(a.out.stem + ".tmp.npz")  # np.savez keeps a name ending in .npz as it is
    f.save(tmp)
    tmp.replace(a.out)
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
