"""Repetition counting on sequences built from real UI-PRMD repetitions (issue 7).

Run: .venv/bin/python benchmarks/bench_reps.py [--data ../shared/data/ui_prmd] [--subjects 6-10]
     [--per-group 3] [--seed 0] [--no-write]

Protocol. UI-PRMD stores each repetition as its own file (Kinect, 30 frames/s; 10 movements x 10
subjects x 10 repetitions, correct and incorrect). For every (movement, subject, correct/incorrect)
group, ``--per-group`` sequences are built: a count n drawn uniformly from 2..10, n distinct
repetitions of that group drawn at random and concatenated in the drawn order with idle gaps
between them: the last pose of a repetition is held 0.1-0.5 s, blended linearly over 0.2 s into the
next repetition's first pose (the two rest poses differ by a few cm; a jump would be an artefact of
the construction, not of the movement), which is held 0.1-0.5 s; 0.5-1.5 s of the first/last pose
lead in and out. All draws come from one ``numpy.random.default_rng(seed)``.

Signals given to the counter (``sportlens.assess.reps.count_reps``, default settings, no movement
profile: the counter picks the driving angle itself): 3D joint angles from the forward-kinematics
positions, with the definitions of ``sportlens.kinematics.angles`` taken in 3D
(``<side>_knee_flexion``, ``_hip_flexion``, ``_elbow_flexion``, ``_shoulder_flexion``), plus
``<side>_forearm_elevation`` (angle between the forearm, elbow -> wrist, and the trunk axis, waist ->
neck; 0 = forearm pointing up), the angle that moves most in shoulder internal/external rotation
(m09: the arm is abducted to 90 degrees and the forearm swings between up and forward).

Metrics per sequence: |counted - true| / true (MAE is its mean) and off-by-one accuracy
(|counted - true| <= 1), per movement and overall. Target (issue 7): MAE <= 0.05, OBO >= 0.95.
Settings were tuned on subjects 1-5; the reported split is subjects 6-10 (``--subjects``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from sportlens.assess.reps import RepSettings, count_reps
from sportlens.data.ui_prmd import KINECT22_JOINTS, QualitySample, load_ui_prmd
from sportlens.fsutil import atomic_write
from sportlens.samples import shared_dir

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FPS = 30.0  # UI-PRMD Kinect frame rate
MOVEMENTS = {1: "deep squat", 2: "hurdle step", 3: "inline lunge", 4: "side lunge", 5: "sit to stand",
             6: "standing active straight leg raise", 7: "standing shoulder abduction",
             8: "standing shoulder extension", 9: "standing shoulder internal-external rotation",
             10: "standing shoulder scaption"}
_J = {n: i for i, n in enumerate(KINECT22_JOINTS)}


def _interior(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(T,) angle a-b-c at b in degrees, 3D."""
    u, v = a - b, c - b
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def kinect_angles(pos: np.ndarray) -> dict[str, np.ndarray]:
    """3D joint angles (degrees) of a (T, 22, 3) Kinect skeleton, named as in sportlens.kinematics."""
    def p(name: str) -> np.ndarray:
        return pos[:, _J[name]]

    up = p("neck") - p("waist")
    out = {}
    for s in ("left", "right"):
        sh, el, wr = p(f"{s}_upper_arm"), p(f"{s}_forearm"), p(f"{s}_hand")
        hip, kn, an = p(f"{s}_upper_leg"), p(f"{s}_lower_leg"), p(f"{s}_foot")
        out[f"{s}_shoulder_flexion"] = _interior(hip, sh, el)
        out[f"{s}_elbow_flexion"] = 180.0 - _interior(sh, el, wr)
        out[f"{s}_hip_flexion"] = 180.0 - _interior(sh, hip, kn)
        out[f"{s}_knee_flexion"] = 180.0 - _interior(hip, kn, an)
        out[f"{s}_forearm_elevation"] = _interior(el + up, el, wr)
    return out


def _hold(frame: np.ndarray, seconds: float) -> np.ndarray:
    return np.repeat(frame[None], int(round(seconds * FPS)), axis=0)


def _blend(a: np.ndarray, b: np.ndarray, seconds: float = 0.2) -> np.ndarray:
    w = np.linspace(0.0, 1.0, int(round(seconds * FPS)) + 2)[1:-1, None, None]
    return (1.0 - w) * a[None] + w * b[None]


def build_sequence(reps: list[QualitySample], rng: np.random.Generator) -> np.ndarray:
    """(T, 22, 3) positions: the reps concatenated with idle gaps (module docstring)."""
    parts = [_hold(reps[0].positions[0], rng.uniform(0.5, 1.5))]
    for i, r in enumerate(reps):
        parts.append(r.positions)
        if i + 1 < len(reps):
            nxt = reps[i + 1].positions[0]
            parts += [_hold(r.positions[-1], rng.uniform(0.1, 0.5)), _blend(r.positions[-1], nxt),
                      _hold(nxt, rng.uniform(0.1, 0.5))]
    parts.append(_hold(reps[-1].positions[-1], rng.uniform(0.5, 1.5)))
    return np.concatenate([p.astype(np.float64) for p in parts if len(p)], axis=0)


def make_sequences(samples: list[QualitySample], subjects: set[int], per_group: int, seed: int,
                   max_reps: int = 10) -> list[dict]:
    """[{movement, subject, correct, n, positions}] for the given subjects (module docstring)."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[int, int, bool], list[QualitySample]] = defaultdict(list)
    for s in samples:
        groups[(s.movement, s.subject, s.correct)].append(s)
    out = []
    for key in sorted(groups):  # every group draws, so a split sees the same sequences in any run
        reps = sorted(groups[key], key=lambda s: s.episode)
        for _ in range(per_group):
            n = int(rng.integers(2, min(max_reps, len(reps)) + 1))
            chosen = [reps[i] for i in rng.choice(len(reps), size=n, replace=False)]
            pos = build_sequence(chosen, rng)
            if key[1] in subjects:
                out.append({"movement": key[0], "subject": key[1], "correct": key[2], "n": n, "positions": pos})
    return out


def evaluate(seqs: list[dict], settings: RepSettings = RepSettings()) -> dict:
    rows = []
    for q in seqs:
        ang = kinect_angles(q["positions"])
        res = count_reps(ang, np.arange(len(q["positions"])) / FPS, settings)
        err = abs(res.count - q["n"])
        rows.append({**{k: q[k] for k in ("movement", "subject", "correct", "n")}, "counted": res.count,
                     "ae": err / q["n"], "obo": err <= 1, "angle": res.angle, "reason": res.reason})
    return summarise(rows)


def summarise(rows: list[dict]) -> dict:
    per = {}
    for mv in sorted({r["movement"] for r in rows}):
        rr = [r for r in rows if r["movement"] == mv]
        per[mv] = {"n": len(rr), "mae": float(np.mean([r["ae"] for r in rr])),
                   "obo": float(np.mean([r["obo"] for r in rr])),
                   "exact": float(np.mean([r["counted"] == r["n"] for r in rr]))}
    return {"rows": rows, "per_movement": per, "mae": float(np.mean([r["ae"] for r in rows])),
            "obo": float(np.mean([r["obo"] for r in rows])),
            "exact": float(np.mean([r["counted"] == r["n"] for r in rows]))}


def table(res: dict) -> str:
    lines = ["| movement | sequences | MAE | OBO | exact | driving angle (most used) |", "|---|---|---|---|---|---|"]
    for mv, r in res["per_movement"].items():
        angles = [x["angle"] for x in res["rows"] if x["movement"] == mv]
        top = max(set(angles), key=angles.count) if angles else ""
        lines.append(f"| m{mv:02d} {MOVEMENTS.get(mv, '')} | {r['n']} | {r['mae']:.3f} | {100 * r['obo']:.1f} % "
                     f"| {100 * r['exact']:.1f} % | {top} |")
    for label, correct in (("correct reps only", True), ("incorrect reps only", False)):
        rr = [x for x in res["rows"] if x["correct"] == correct]
        if rr:
            lines.append(f"| {label} | {len(rr)} | {np.mean([x['ae'] for x in rr]):.3f} "
                         f"| {100 * np.mean([x['obo'] for x in rr]):.1f} % "
                         f"| {100 * np.mean([x['counted'] == x['n'] for x in rr]):.1f} % | |")
    lines.append(f"| **all** | {len(res['rows'])} | **{res['mae']:.3f}** | **{100 * res['obo']:.1f} %** "
                 f"| {100 * res['exact']:.1f} % | |")
    return "\n".join(lines)


def _subjects(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        a, _, b = part.partition("-")
        out |= set(range(int(a), int(b or a) + 1))
    return out


def main(argv: list[str] | None = None) -> int:
    shared = shared_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=(shared / "data" / "ui_prmd") if shared else None)
    ap.add_argument("--subjects", default="6-10", help="reported split (settings were tuned on 1-5)")
    ap.add_argument("--tuning-subjects", default="1-5", help="also shown, marked as the tuning split ('' = skip)")
    ap.add_argument("--per-group", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.data is None:
        print("UI-PRMD not found: pass --data DIR", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    samples, _ = load_ui_prmd(args.data)
    seqs = make_sequences(samples, _subjects(args.subjects), args.per_group, args.seed)
    res = evaluate(seqs)
    tuning = None
    if args.tuning_subjects:
        tuning = table(evaluate(make_sequences(samples, _subjects(args.tuning_subjects), args.per_group,
                                               args.seed)))
    secs = time.perf_counter() - t0
    tab = table(res)
    print(tab)
    if tuning:
        print(f"tuning split (subjects {args.tuning_subjects}):\n{tuning}")
    misses = [r for r in res["rows"] if r["counted"] != r["n"]]
    print(f"{len(misses)} sequences miscounted; {secs:.1f} s")
    for r in misses[:15]:
        print(f"  m{r['movement']:02d} s{r['subject']:02d} {'c' if r['correct'] else 'i'} true {r['n']} "
              f"counted {r['counted']} via {r['angle']} {r['reason'] or ''}")
    if not args.no_write:
        _write(args, tab, tuning, misses, secs)
    return 0


def _write(args: argparse.Namespace, tab: str, tuning: str | None, misses: list[dict], secs: float) -> None:
    cmd = ".venv/bin/python benchmarks/bench_reps.py " + " ".join(args.argv)
    miss_lines = "\n".join(f"- m{r['movement']:02d} subject {r['subject']} "
                           f"{'correct' if r['correct'] else 'incorrect'}: true {r['n']}, counted {r['counted']} "
                           f"(driving angle {r['angle']}){': ' + r['reason'] if r['reason'] else ''}"
                           for r in misses) or "- none"
    tune_text = "" if not tuning else f"""
Tuning split (subjects {args.tuning_subjects}; `RepSettings` defaults were chosen on these: prominence
0.25 of the range measured best among 0.2/0.25/0.3/0.4/0.5, low-pass 1.5/2/3 Hz and minimum period
0.8/1.2 s made no difference worth having):

{tuning}
"""
    text = f"""# Repetition counting on UI-PRMD sequences (issue 7)

Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {platform.machine()}, {os.cpu_count()} CPU cores
(shared with other jobs), Python {platform.python_version()}. Command: `{cmd.strip()}`; {secs:.1f} s.

Sequences: subjects {args.subjects} (settings tuned on the other subjects), {args.per_group} per
(movement, subject, correct/incorrect) group, 2-10 real repetitions each with idle gaps, seed {args.seed}
(protocol: `benchmarks/bench_reps.py` docstring). Counter: `sportlens.assess.reps.count_reps` with
default `RepSettings`, driving angle chosen automatically among 10 3D joint angles.
MAE = mean |counted - true| / true; OBO = share of sequences with |counted - true| <= 1.
Target: MAE <= 0.05, OBO >= 0.95. Honesty note: the reported split was also run three times while
the counter was developed (to see where it failed); every setting was chosen on the tuning split.

{tab}

Miscounted sequences (reported split):
{miss_lines}
{tune_text}"""
    atomic_write(RESULTS / "bench_reps.md", lambda tmp: tmp.write_text(text))
    print(f"wrote {RESULTS / 'bench_reps.md'}")


if __name__ == "__main__":
    sys.exit(main())
