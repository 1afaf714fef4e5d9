"""Batch analysis: every video of a folder through ``sportlens.api.analyze_video``, in parallel with Ray.

A face (like the CLI and the web app): it imports ``api`` and below, and nothing imports it.
``run_batch`` is the entry point; ``sportlens batch`` is its command line.
"""
from __future__ import annotations

from sportlens.batch.runner import BatchReport, BatchSettings, run_batch

__all__ = ["BatchReport", "BatchSettings", "run_batch"]
