"""Short, readable renderings for failure reports and the timeline."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

_MAX_LISTED = 6


def files_text(file_ids: Sequence[str]) -> str:
    """`[f-0000, f-0001]`, or `f-0000..f-0009 (10 files)` for a long list, so a report stays one line."""
    ids = list(file_ids)
    if len(ids) <= 4:
        return "[" + ", ".join(ids) + "]"
    return f"{ids[0]}..{ids[-1]} ({len(ids)} files)"


def request_text(request_id: str) -> str:
    """Request IDs are UUIDs; the first 8 characters tell them apart in one scenario."""
    return request_id[:8]


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def offset(value: float) -> str:
    """A time relative to the job start, like +4.62 s."""
    return f"{value:+.2f} s"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural_noun or noun + 's')}"


def value_text(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = repr(text) if isinstance(value, str) else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


def listing(items: Iterable[str], limit: int = _MAX_LISTED) -> str:
    """`a; b; c` with at most `limit` items, then how many more."""
    items = list(items)
    shown = "; ".join(items[:limit])
    return shown + (f"; and {len(items) - limit} more" if len(items) > limit else "")


def duration_text(seconds: float) -> str:
    """A duration as a person reads it: `42.5 s`, `5 min 0.0 s`, `2 h 3 min`, `1 day 0 h`."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min {seconds % 60:.1f} s"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    return f"{int(seconds // 86400)} days {int(seconds % 86400 // 3600)} h"
