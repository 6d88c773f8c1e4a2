"""Logging for workflow stages: every stage writes its log file under ``logs/``."""

from __future__ import annotations

import logging
import sys
import traceback

from interpflow.atomic_io import exit_on_sigterm


def log_to(log_file: str) -> logging.Logger:
    """Send INFO and above to ``log_file`` and stderr; uncaught errors are logged before exit.

    Every stage calls this first, so it is also where a stage learns to stop cleanly on SIGTERM.
    """
    exit_on_sigterm()
    handlers = [logging.FileHandler(log_file, mode="w"), logging.StreamHandler(sys.stderr)]
    logging.basicConfig(
        level=logging.INFO, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.captureWarnings(True)

    def log_uncaught(kind, value, tb):
        logging.getLogger("interpflow").error("stage failed:\n%s", "".join(traceback.format_exception(kind, value, tb)))

    sys.excepthook = log_uncaught
    return logging.getLogger("interpflow.stage")
