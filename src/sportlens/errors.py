"""Errors a user can act on. Each message names the file, says what is wrong and what to do.

The CLI prints ``SportlensError`` as one line and exits non-zero; anything else is a bug and
shows a traceback only with ``--debug``.
"""
from __future__ import annotations


class SportlensError(Exception):
    """Base class: the message is meant for the user, on one line."""

    exit_code = 1


class InputError(SportlensError):
    """The input file (video, keypoints...) is missing, unreadable or not what it should be."""

    exit_code = 2


class OutputError(SportlensError):
    """The output location cannot be written."""

    exit_code = 3
