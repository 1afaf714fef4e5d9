"""Shared fixtures. Real data lives in ../shared (or $SPORTLENS_SHARED): tests that need it skip
with a reason when it is absent, and fail instead under CI=true, where it must be present."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from sportlens.samples import shared_dir

SHARED = shared_dir()


def shared_path(rel: str) -> Path:
    """Path of a file in shared/, or skip (fail under CI) when it is not on this machine."""
    path = SHARED / rel if SHARED else None
    if path is None or not path.exists():
        msg = f"real data shared/{rel} not found (set SPORTLENS_SHARED or put shared/ beside the checkout)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg + " - required under CI")
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def demo_video() -> Path:
    return shared_path("videos/sports2d_demo.mp4")


@pytest.fixture(scope="session")
def golf_video() -> Path:
    return shared_path("videos/golf_swing.mp4")


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny models: they gain nothing from more, and OpenMP
    spinning costs up to 100x when the suite shares a busy machine. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
