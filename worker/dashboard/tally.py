"""Fold the router's event log into per-day totals, incrementally, for the overview page and /metrics.

Reading and decoding the whole log on every page view or scrape costs seconds at tens of thousands of events
(measured: about 4 s for 50,000), so `EventFeed` keeps a running fold and reads only the events added since
its last read (Redis stream IDs are ordered). The fold is a cache of Redis, never written back and rebuilt
from the log when the process starts; Redis stays the one source of truth.
"""

from __future__ import annotations

import copy
import json
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, cast

from worker.adapters.store import Ledger
from worker.domain import INQUIRY

CONFIDENCE_BINS = 10  # the overview's histogram: equal bins from 0 to 1
LAG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
READ_CHUNK = 5000


@dataclass
class Histogram:
    """Prometheus-style buckets: counts[i] holds values <= bounds[i] and > bounds[i-1]; the last slot is +Inf."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = self.counts or [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*map(repr, map(float, self.bounds)), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, float(running)))
        return out

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass
class DayTally:
    categories: Counter[tuple[str, str]] = field(default_factory=Counter)  # (category, kind) -> mails
    kinds: Counter[str] = field(default_factory=Counter)  # ingested per kind ("quarantine" for parked mail)
    inquiries: int = 0
    abstained: int = 0
    replies: Counter[str] = field(default_factory=Counter)  # "router" / "staff" -> sent or possibly sent
    suppressed: Counter[str] = field(default_factory=Counter)  # rule -> replies kept back
    quarantined: int = 0
    confidence: list[int] = field(default_factory=lambda: [0] * CONFIDENCE_BINS)
    service_errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Tally:
    tz: tzinfo
    days: dict[str, DayTally] = field(default_factory=dict)  # "YYYY-MM-DD" in `tz`
    lag: Histogram = field(default_factory=lambda: Histogram(LAG_BUCKETS))
    confidence: Histogram = field(default_factory=lambda: Histogram(CONFIDENCE_BUCKETS))

    def day(self, at: float) -> DayTally:
        name = datetime.fromtimestamp(at, self.tz).strftime("%Y-%m-%d")
        if name not in self.days:
            self.days[name] = DayTally()
        return self.days[name]

    def add(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        at = event.get("at")
        if not isinstance(at, int | float):
            return
        day = self.day(float(at))
        if name == "quarantined":
            day.quarantined += 1
            day.kinds["quarantine"] += 1
        elif name == "routed":
            self._routed(day, event, float(at))
        elif name == "staff-reply" and is_sent(event.get("reply")):
            day.replies["staff"] += 1
        elif name == "reply-rejected":
            day.service_errors["smtp"] += 1
        elif name == "error" and event.get("service") in ("imap", "smtp"):
            day.service_errors[str(event["service"])] += 1

    def _routed(self, day: DayTally, event: dict[str, Any], at: float) -> None:
        kind = str(event.get("kind", "unknown"))
        day.kinds[kind] += 1
        for category in categories_of(event):
            day.categories[(category, kind)] += 1
        if is_sent(event.get("reply")):
            day.replies["router"] += 1
        for rule in event.get("suppressed_by", ()):
            day.suppressed[str(rule)] += 1
        received = event.get("received")
        if isinstance(received, int | float):
            self.lag.observe(max(0.0, at - float(received)))
        if kind != INQUIRY:
            return
        day.inquiries += 1
        day.abstained += bool(event.get("needs_review"))
        confidence = event.get("confidence")
        if isinstance(confidence, int | float):
            day.confidence[min(CONFIDENCE_BINS - 1, max(0, int(confidence * CONFIDENCE_BINS)))] += 1
            self.confidence.observe(float(confidence))

    def total(self) -> DayTally:
        """All days added up (for counters)."""
        out = DayTally()
        for day in self.days.values():
            out.categories.update(day.categories)
            out.kinds.update(day.kinds)
            out.inquiries += day.inquiries
            out.abstained += day.abstained
            out.replies.update(day.replies)
            out.suppressed.update(day.suppressed)
            out.quarantined += day.quarantined
            out.service_errors.update(day.service_errors)
            out.confidence = [a + b for a, b in zip(out.confidence, day.confidence, strict=True)]
        return out


def categories_of(event: dict[str, Any]) -> list[str]:
    """What an event counts towards: its labels, or its kind for non-inquiries, else "unlabelled"."""
    if event.get("kind") != INQUIRY:
        return [str(event.get("kind", "unknown"))]
    return [str(label) for label in event.get("labels", ())] or ["unlabelled"]


def is_sent(reply: object) -> bool:
    return reply in ("sent", "uncertain")


def tally_events(events: Iterable[dict[str, Any]], tz: tzinfo) -> Tally:
    tally = Tally(tz)
    for event in events:
        tally.add(event)
    return tally


class EventFeed:
    """A Tally kept up to date from the ledger's event stream; safe to share between request threads."""

    def __init__(self, ledger: Ledger, tz: tzinfo) -> None:
        self.redis = ledger.redis
        self.stream = ledger.prefix + "events"  # the key worker.adapters.store.Ledger.log_event writes
        self.tally = Tally(tz)
        self.last_id = "-"
        self.lock = threading.Lock()

    def refresh(self) -> Tally:
        """Read what was logged since the last call; returns a copy that later refreshes do not change."""
        with self.lock:
            while True:
                rows = cast(list[tuple[bytes, dict[bytes, bytes]]],
                            self.redis.xrange(self.stream, min=self.last_id, count=READ_CHUNK))
                for _id, fields in rows:
                    self.tally.add(json.loads(fields[b"json"]))
                if rows:
                    self.last_id = "(" + rows[-1][0].decode()
                if len(rows) < READ_CHUNK:
                    return copy.deepcopy(self.tally)
