"""Loggers for the handlers; the runtime attaches the handler that ships records to CloudWatch Logs."""

from __future__ import annotations

import logging
import os


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    # A typo in LOG_LEVEL must not turn into an import error that hides every other message.
    logger.setLevel(level if isinstance(logging.getLevelName(level), int) else logging.INFO)
    return logger
