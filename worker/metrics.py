"""Prometheus metrics computed at scrape time from the router's own state: the Redis event log, heartbeats,
corrections and IMAP STATUS. Nothing is counted in process memory, so there is no second source of truth
and every dashboard replica reports the same numbers.

Counters are derived from the event log (trimmed at worker.adapters.store.EVENT_LOG_MAXLEN events), so they
only ever drop if that log is trimmed; Prometheus' rate() treats such a drop as a counter reset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from worker.adapters.imap import Mailbox
from worker.adapters.store import Ledger
from worker.corrections import CorrectionLog
from worker.domain import INQUIRY
from worker.route.taxonomy import Taxonomy

EVENTS_READ = 200_000
LAG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def histogram_buckets(values: list[float], bounds: tuple[float, ...]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs ending with +Inf, as the exposition format wants them."""
    buckets = [(_le(bound), float(sum(1 for v in values if v <= bound))) for bound in bounds]
    buckets.append(("+Inf", float(len(values))))
    return buckets


def _le(bound: float) -> str:
    return repr(float(bound))


def event_metrics(events: list[dict[str, Any]], corrections_by_label: Counter[str]) -> list[Metric]:
    """Every metric the event log and the corrections determine (pure: values in, metric families out)."""
    ingested = CounterMetricFamily("router_mails_ingested", "Mails taken from the inbox, by kind", labels=["kind"])
    routed = CounterMetricFamily("router_mails_routed", "Mails filed, by category (kind for non-inquiries) and kind",
                                 labels=["category", "kind"])
    replies = CounterMetricFamily("router_replies_sent", "Replies sent (or possibly sent), by who sent them",
                                  labels=["source"])
    suppressed = CounterMetricFamily("router_replies_suppressed", "Replies kept back, by the rule that stopped them",
                                     labels=["rule"])
    abstentions = CounterMetricFamily("router_abstentions", "Inquiries left to staff (needs review)")
    quarantined = CounterMetricFamily("router_mails_quarantined", "Mails parked in quarantine by the worker")
    errors = CounterMetricFamily("router_service_errors", "IMAP/SMTP errors recorded in the event log",
                                 labels=["service"])
    corrections = CounterMetricFamily("router_corrections", "Routed mails staff corrected, by predicted category",
                                      labels=["category"])
    precision = GaugeMetricFamily("router_precision_estimate",
                                  "1 - corrections / routed inquiries per predicted category (live estimate)",
                                  labels=["category"])
    kinds: Counter[str] = Counter()
    categories: Counter[tuple[str, str]] = Counter()
    by_label: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    sources: Counter[str] = Counter({"router": 0, "staff": 0})
    service_errors: Counter[str] = Counter({"imap": 0, "smtp": 0})
    lags: list[float] = []
    confidences: list[float] = []
    abstained = parked = 0
    for event in events:
        name = event.get("event")
        if name == "quarantined":
            kinds["quarantine"] += 1
            parked += 1
        elif name == "routed":
            kind = str(event.get("kind", "unknown"))
            kinds[kind] += 1
            labels = [str(label) for label in event.get("labels", ())] if kind == INQUIRY else []
            for category in labels or ([kind] if kind != INQUIRY else ["unlabelled"]):
                categories[(category, kind)] += 1
            for label in labels:
                by_label[label] += 1
            if event.get("reply") in ("sent", "uncertain"):
                sources["router"] += 1
            for rule in event.get("suppressed_by", ()):
                rules[str(rule)] += 1
            abstained += bool(kind == INQUIRY and event.get("needs_review"))
            received, at = event.get("received"), event.get("at")
            if isinstance(received, int | float) and isinstance(at, int | float):
                lags.append(max(0.0, float(at) - float(received)))
            confidence = event.get("confidence")
            if isinstance(confidence, int | float):
                confidences.append(float(confidence))
        elif name == "staff-reply" and event.get("reply") in ("sent", "uncertain"):
            sources["staff"] += 1
        elif name == "reply-rejected":
            service_errors["smtp"] += 1
        elif name == "error" and event.get("service") in ("imap", "smtp"):
            service_errors[str(event["service"])] += 1
    for kind, count in sorted(kinds.items()):
        ingested.add_metric([kind], count)
    for (category, kind), count in sorted(categories.items()):
        routed.add_metric([category, kind], count)
    for source, count in sorted(sources.items()):
        replies.add_metric([source], count)
    for rule, count in sorted(rules.items()):
        suppressed.add_metric([rule], count)
    for service, count in sorted(service_errors.items()):
        errors.add_metric([service], count)
    for label, count in sorted(corrections_by_label.items()):
        corrections.add_metric([label], count)
    for label, count in sorted(by_label.items()):
        precision.add_metric([label], max(0.0, 1.0 - corrections_by_label.get(label, 0) / count))
    abstentions.add_metric([], abstained)
    quarantined.add_metric([], parked)
    lag = HistogramMetricFamily("router_ingest_lag_seconds", "From the mail's Date to routed")
    lag.add_metric([], histogram_buckets(lags, LAG_BUCKETS), sum_value=sum(lags))
    confidence = HistogramMetricFamily("router_confidence", "The classifier's top score per inquiry")
    confidence.add_metric([], histogram_buckets(confidences, CONFIDENCE_BUCKETS), sum_value=sum(confidences))
    return [ingested, routed, replies, suppressed, abstentions, quarantined, errors, corrections, precision,
            lag, confidence]


class RouterCollector(Collector):
    """Reads Redis and IMAP on every scrape. `open_mailbox` is called per scrape and its result logged out."""

    def __init__(self, ledger: Ledger, taxonomy: Taxonomy, open_mailbox: Callable[[], Mailbox]) -> None:
        self.ledger = ledger
        self.taxonomy = taxonomy
        self.open_mailbox = open_mailbox

    def collect(self) -> Iterator[Metric]:
        events = self.ledger.events(count=EVENTS_READ, newest_first=False)
        corrected: Counter[str] = Counter()
        seen: set[str] = set()
        # A mail corrected twice counts once, against what the model predicted.
        for correction in reversed(CorrectionLog(self.ledger).all()):
            if correction.key in seen:
                continue
            seen.add(correction.key)
            for label in correction.from_labels:
                if label not in correction.to_labels or correction.kind != INQUIRY:
                    corrected[label] += 1
        yield from event_metrics(events, corrected)
        heartbeat = GaugeMetricFamily("router_poller_last_cycle_timestamp_seconds",
                                      "When the poller last finished a cycle (Unix time)", labels=["mailbox"])
        for component, at in sorted(self.ledger.heartbeats().items()):
            if component.startswith("poller:"):
                heartbeat.add_metric([component.split(":", 1)[1]], at)
        yield heartbeat
        yield from self._imap()

    def _imap(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("router_imap_up", "Whether the dashboard reached IMAP during this scrape")
        queue = GaugeMetricFamily("router_queue_messages", "Messages in each folder (IMAP STATUS)", labels=["folder"])
        quarantine = GaugeMetricFamily("router_quarantine_messages", "Messages in the quarantine folder now")
        try:
            mailbox = self.open_mailbox()
        except Exception:  # any failure to connect is what this gauge reports
            up.add_metric([], 0)
            yield up
            return
        try:
            counts = {folder: mailbox.status(folder).get("messages", 0) if mailbox.folder_exists(folder) else 0
                      for folder in ("INBOX", *self.taxonomy.all_folders(), self.taxonomy.sent_folder)}
        except Exception:  # a connection dropped mid-scrape: report IMAP down rather than fail the scrape
            up.add_metric([], 0)
            yield up
            return
        finally:
            mailbox.logout()
        for folder, count in counts.items():
            queue.add_metric([folder], count)
        quarantine.add_metric([], counts.get(self.taxonomy.quarantine_folder, 0))
        up.add_metric([], 1)
        yield up
        yield queue
        yield quarantine
