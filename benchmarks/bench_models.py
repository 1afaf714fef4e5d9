"""Speed of every registered model on this CPU, and inference optimisations side by side.

Run: .venv/bin/python benchmarks/bench_models.py [--models sportnet,c3d_attn,...] [--agree sportnet=RUN_DIR ...]

Per model at its default input (batch 1 unless said): parameters, GFLOPs per clip (torch's flop
counter), eager fp32 latency and clips/s at batch 1 and 8, one training step (batch 8, forward +
backward + AdamW), and peak resident memory of a fresh process doing all that. Optimised inference,
measured in the same process right after eager: channels_last, bf16 autocast (oneDNN bf16 kernels:
AVX512-BF16 on this AMD EPYC, AMX on recent Xeons) and ONNX Runtime; speed-up = eager ms / optimised
ms. ``--agree NAME=RUN_DIR`` also runs the run's best.pt with every variant on a fresh generated
dataset (the run's settings, next seed): top-1 agreement with eager fp32.
Writes benchmarks/results/bench_models.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def timed(fn, repeats: int = 10, warmup: int = 2) -> float:
    """Median milliseconds of ``fn()``."""
    out = []
    for i in range(warmup + repeats):
        t = time.perf_counter()
        fn()
        if i >= warmup:
            out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def variants(model, example: dict):
    """name -> callable(inputs dict) -> logits, all on the same weights."""
    import onnxruntime as ort
    from sportlens.engine.export import PositionalInputs

    names = list(example)
    wrapped = PositionalInputs(model, names).eval()
    path = Path(tempfile.mkdtemp()) / "m.onnx"
    with torch.no_grad():
        torch.onnx.export(wrapped, tuple(example.values()), str(path), dynamo=False, opset_version=17,
                          input_names=names, output_names=["logits"], dynamic_axes={n: {0: "b"} for n in names})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def eager(x):
        with torch.inference_mode():
            return model(**x)

    def channels_last(x):
        with torch.inference_mode():
            return model_cl(**x)

    def bf16(x):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return model(**x).float()

    def onnx(x):
        return torch.from_numpy(sess.run(None, {k: v.numpy() for k, v in x.items()})[0])

    model_cl = _channels_last(model)
    return {"eager fp32": eager, "channels_last": channels_last, "bf16 autocast": bf16, "onnxruntime": onnx}


def _channels_last(model):
    """A copy with channels-last convolution weights (NHWC / NDHWC). The models fold frames into the
    batch, (B, T, C, H, W) -> (B*T, C, H, W), so the input stays NCHW; a convolution with
    channels-last weights still runs in the channels-last layout (oneDNN's preferred one)."""
    import copy

    out = copy.deepcopy(model)
    for m in out.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.to(memory_format=torch.channels_last)
        elif isinstance(m, torch.nn.Conv3d):
            m.to(memory_format=torch.channels_last_3d)
    return out


def measure(name: str, threads: int, queue) -> None:
    torch.set_num_threads(threads)
    from sportlens.engine.export import example_inputs
    from sportlens.engine.metrics import count_flops, count_parameters
    from sportlens.models import create_model

    model = create_model(name).eval()
    ex1, ex8 = example_inputs(model, 1), example_inputs(model, 8)
    row = {"model": name, "params": count_parameters(model),
           "gflops": count_flops(_pos(model, ex1), tuple(ex1.values())) / 1e9,
           "input": ", ".join(f"{k} {tuple(v.shape[1:])}" for k, v in ex1.items())}
    fns = variants(model, ex1)
    for vname, fn in fns.items():
        row[f"{vname} ms b1"] = timed(lambda: fn(ex1), repeats=5, warmup=1)
    row["eager fp32 clips/s b8"] = 8000 / timed(lambda: fns["eager fp32"](ex8), repeats=3, warmup=1)
    row["frames"] = next(iter(ex1.values())).shape[1]  # T: frames per clip
    model.train()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    y = torch.zeros(8, dtype=torch.long)

    def step():
        loss = torch.nn.functional.cross_entropy(model(**ex8), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    row["train step ms b8"] = timed(step, repeats=2, warmup=1)
    row["peak RSS MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(row)


def _pos(model, ex):
    from sportlens.engine.export import PositionalInputs
    return PositionalInputs(model, list(ex)).eval()


def agreement(name: str, run_dir: Path) -> tuple[dict[str, float], int]:
    """Top-1 agreement of every variant with eager fp32, and the number of clips. The clips: a fresh
    generated dataset (the run's settings, next seed; all of it is unseen by the model), larger than
    the run's own test split so that 99 % is a meaningful bar."""
    from sportlens.engine.checkpoint import build_from_checkpoint, load_checkpoint
    from sportlens.engine.config import load_config
    from sportlens.engine.video_experiment import VideoTrainConfig, load_samples, make_loader

    cfg = load_config(run_dir / "config.yaml", [], VideoTrainConfig())
    cfg = load_config(None, [f"data.synthetic_seed={cfg.data.synthetic_seed + 1}"], cfg)
    model = build_from_checkpoint(load_checkpoint(run_dir / "best.pt")).eval()
    test, classes, _ = load_samples(cfg.data)
    loader = make_loader(test, classes, cfg.data, model, train=False)
    from sportlens.engine.export import example_inputs
    fns = variants(model, example_inputs(model, 1))
    preds = {k: [] for k in fns}
    for batch in loader:
        x = {k: batch[k] for k in model.inputs}
        for k, fn in fns.items():
            preds[k].append(fn(x).argmax(1))
    ref = torch.cat(preds["eager fp32"])
    return {k: float((torch.cat(v) == ref).float().mean()) for k, v in preds.items()}, len(ref)


def _cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="sportnet,c3d_attn,cnn_lstm,two_stream,hicnn_psta,tcn,stgcn")
    ap.add_argument("--agree", nargs="*", default=[], help="NAME=RUN_DIR of trained video models")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="intra-op threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    ctx = mp.get_context("spawn")  # a fresh process per model: honest peak memory
    for name in args.models.split(","):
        q = ctx.Queue()
        p = ctx.Process(target=measure, args=(name, args.threads, q))
        p.start()
        rows.append(q.get())
        p.join()
        print(json.dumps(rows[-1]), flush=True)
    agree = {}
    for item in args.agree:
        name, _, run = item.partition("=")
        agree[name] = (*agreement(name, Path(run)), Path(run).name)
    cols = ["eager fp32", "channels_last", "bf16 autocast", "onnxruntime"]
    lines = ["# bench_models: model cost and CPU inference speed", "",
             f"- date: {dt.datetime.now().isoformat(timespec='seconds')}",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores ({_cpu_name()}), torch {torch.__version__}, "
             f"{args.threads} intra-op thread(s)",
             f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
             "- latency = median ms per clip at batch 1 (all threads); speed-up = eager / variant", "",
             "| model | input (per clip) | params | GFLOPs | " + " | ".join(f"{c} ms" for c in cols)
             + " | best speed-up | frames/s b1 (best) | clips/s b8 | frames/s b8 | train step b8 ms | peak RSS MiB |",
             "|---|---|---:|---:|" + "---:|" * len(cols) + "---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        best = max(cols[1:], key=lambda c: r["eager fp32 ms b1"] / r[f"{c} ms b1"])
        lines.append(f"| {r['model']} | {r['input']} | {r['params']:,} | {r['gflops']:.2f} | "
                     + " | ".join(f"{r[f'{c} ms b1']:.1f}" for c in cols)
                     + f" | {r['eager fp32 ms b1'] / r[f'{best} ms b1']:.2f}x ({best}) "
                     f"| {1000 * r['frames'] / r[f'{best} ms b1']:.0f} | {r['eager fp32 clips/s b8']:.1f} "
                     f"| {r['eager fp32 clips/s b8'] * r['frames']:.0f} | {r['train step ms b8']:.0f} "
                     f"| {r['peak RSS MiB']:.0f} |")
    if agree:
        lines += ["", "## Top-1 agreement with eager fp32 (trained checkpoints, unseen generated clips)", "",
                  "| model | run | clips | " + " | ".join(cols) + " |", "|---|---|---:|" + "---:|" * len(cols)]
        for name, (a, n, run) in agree.items():
            lines.append(f"| {name} | {run} | {n} | " + " | ".join(f"{a[c]:.3f}" for c in cols) + " |")
    lines += ["", "Seeds' reported speeds, for scale (GPUs, not comparable to this CPU): seed 002 C3D-attention "
              "28.5 FPS, seed 004 two-stream 20 FPS."]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_models.md").write_text(text)


if __name__ == "__main__":
    main()
