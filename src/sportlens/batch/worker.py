"""What one Ray task runs: one video through ``analyze_video``. Imported by Ray workers by name,
so it stays a plain module-level function with picklable arguments."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sportlens.config import AnalyzeSettings


def analyze_one(video: str, out_dir: str, settings: AnalyzeSettings) -> dict[str, Any]:
    """Analyse ``video`` into ``out_dir`` (atomically: see ``api.analyze_video``); return the written
    summary.json, the wall time and the CPU time. Exceptions travel back to the driver, which retries and reports."""
    from sportlens.api import analyze_video  # in the worker: the driver never loads pose models

    start, cpu = time.perf_counter(), time.process_time()
    analyze_video(video, out_dir, settings)
    summary = json.loads((Path(out_dir) / "summary.json").read_text())
    # CPU seconds of this worker process (all its threads): with the wall time, tells a busy machine
    # (wall >> CPU) from work that does not parallelise
    return {"summary": summary, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}
