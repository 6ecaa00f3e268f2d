"""The retry schedule shared by thresher's two HTTP clients (pipelines/fetch.py, pages for `thresher
scrape`; pipelines/remote.py, Common Crawl range reads): a server's Retry-After, else exponential
backoff with full jitter. One parser and one schedule, so the two cannot disagree."""

from __future__ import annotations

import random
import re
from datetime import timezone
from email.utils import parsedate_to_datetime

# Longer than any wait a caller takes (fetch.py BACKOFF_CAP, remote.py RETRY_AFTER_CAP_S): a
# Retry-After of 10^400 seconds or a date in year 9999 comes back as this, never as an overflow.
RETRY_AFTER_MAX_S = 86400.0


def retry_after(value: str | None, now: float) -> float | None:
    """Retry-After (RFC 9110 §10.2.3) in seconds after `now` (Unix time): delay-seconds (ASCII
    digits only: `²` is a digit to str.isdigit, not to HTTP) or an HTTP-date, at most
    RETRY_AFTER_MAX_S; a date in the past is 0. None when absent or unreadable; never raises."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]+", value):
        digits = value.lstrip("0")
        if len(digits) > 9:  # more than RETRY_AFTER_MAX_S anyway; int() of 5,000 digits would raise
            return RETRY_AFTER_MAX_S
        return min(float(digits or 0), RETRY_AFTER_MAX_S)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000": RFC 5322's "UTC, origin unknown"
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    except (TypeError, ValueError, OverflowError, IndexError):  # no date, a year past 9999, ...
        return None
    return min(max(0.0, seconds), RETRY_AFTER_MAX_S)


def backoff(attempt: int, base: float, cap: float, rng=random) -> float:
    """Seconds to wait before retry `attempt` (from 0): exponential backoff with full jitter,
    uniform(0, min(cap, base * 2**attempt)) (AWS Architecture Blog, "Exponential Backoff And
    Jitter"): the retries of many clients spread out instead of arriving together."""
    return rng.uniform(0.0, min(cap, base * 2 ** min(attempt, 64)))
