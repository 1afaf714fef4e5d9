"""``sportlens eval forecast``: one protocol, one predictor, on the Penn Action test split.

The benchmark (``benchmarks/bench_forecast.py``) compares several predictors side by side; this is the
single-predictor path a user runs on their copy of the data (protocols in ``protocols.py``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from sportlens.data.penn import load_penn_action
from sportlens.errors import InputError
from sportlens.forecast.baselines import constant_velocity, zero_velocity
from sportlens.forecast.protocols import evaluate, protocol_a_windows, protocol_b_windows

Predictor = Callable[[np.ndarray, int], np.ndarray]  # observed (N, T_obs, V, 2) px, horizon -> (N, H, V, 2)
BASELINES: dict[str, Predictor] = {"zero": zero_velocity, "constvel": constant_velocity}
PROTOCOLS = {"A": protocol_a_windows, "B": protocol_b_windows}


def make_predictor(model: str = "msgcn", checkpoint: str | Path | None = None) -> Predictor:
    """A baseline by name, or a trained forecaster from ``checkpoint`` (its model name must match).

    Without a checkpoint, ``model`` ``"msgcn"`` (or ``""``) loads the forecaster shipped inside the package
    (``sportlens/assets/forecast_msgcn_penn13.pt``, see its model card next to it).
    """
    from sportlens.forecast.training import SHIPPED_CHECKPOINT, Forecaster

    if checkpoint is None and model in ("", "msgcn"):
        if not SHIPPED_CHECKPOINT.is_file():
            raise InputError(f"the shipped forecaster {SHIPPED_CHECKPOINT} is missing: reinstall sportlens, or "
                             f"give --checkpoint PATH or --model {'|'.join(BASELINES)}")
        checkpoint = SHIPPED_CHECKPOINT
    if checkpoint is not None:
        from sportlens.engine.checkpoint import load_checkpoint

        name = load_checkpoint(checkpoint)["model_name"]
        if model not in ("", name):
            raise InputError(f"{checkpoint}: holds a {name!r} model, not {model!r}")
        return Forecaster(checkpoint)
    if model not in BASELINES:
        raise InputError(f"--model {model!r}: use {', '.join(BASELINES)} or msgcn (shipped), or give a trained "
                         "forecaster with --checkpoint")
    return BASELINES[model]


def evaluate_on_penn(data: str | Path, protocol: str, predictor: Predictor) -> dict[str, Any]:
    """Metrics of ``predictor`` under protocol A or B on the official test split of Penn Action."""
    protocol = protocol.upper()
    if protocol not in PROTOCOLS:
        raise InputError(f"--protocol {protocol!r}: use A or B")
    clips, _ = load_penn_action(data, split="test")
    windows = PROTOCOLS[protocol](clips)
    if len(windows) == 0:
        raise InputError(f"{data}: no test clip is long enough for protocol {protocol}")
    result = evaluate(predictor(windows.observed, windows.horizon), windows)
    return {"protocol": protocol, **result}
