"""The ``sportlens`` command line: a thin face over ``sportlens.api``.

Errors a user can fix (``SportlensError``) print one line on stderr and exit non-zero; anything
else is a bug: one line too, with the traceback only under ``--debug``.
"""
from __future__ import annotations

import importlib

from sportlens.cli._common import app

# Each module registers its commands on import; a new command group is a new module named here.
COMMAND_MODULES = ("analyze", "train", "evaluate", "dataset", "reference", "serve", "batch", "quality", "store")
for _name in COMMAND_MODULES:
    importlib.import_module(f"sportlens.cli.{_name}")

__all__ = ["app", "main"]


def main() -> None:
    app()


if __name__ == "__main__":
    main()
