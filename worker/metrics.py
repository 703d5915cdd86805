"""Prometheus metrics computed at scrape time from the router's own state: the Redis event log, heartbeats,
corrections and IMAP STATUS. Nothing is counted in process memory, so there is no second source of truth
and every dashboard replica reports the same numbers.

Counters are a fold over the event log (worker.dashboard.tally.EventFeed reads only what is new on each scrape).
A process that starts after Redis trimmed the log (EVENT_LOG_MAXLEN events) counts from what is left; to
rate() that is an ordinary counter reset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from worker.adapters.imap import Mailbox
from worker.adapters.store import Ledger
from worker.corrections import CorrectionLog
from worker.dashboard.tally import EventFeed, Tally
from worker.domain import INQUIRY
from worker.route.taxonomy import Taxonomy


def event_metrics(tally: Tally, corrections_by_label: Counter[str]) -> list[Metric]:
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
    total = tally.total()
    for kind, count in sorted(total.kinds.items()):
        ingested.add_metric([kind], count)
    by_label: Counter[str] = Counter()
    for (category, kind), count in sorted(total.categories.items()):
        routed.add_metric([category, kind], count)
        if kind == INQUIRY:
            by_label[category] += count
    for source in ("router", "staff"):
        replies.add_metric([source], total.replies.get(source, 0))
    for rule, count in sorted(total.suppressed.items()):
        suppressed.add_metric([rule], count)
    for service in ("imap", "smtp"):
        errors.add_metric([service], total.service_errors.get(service, 0))
    for label, count in sorted(corrections_by_label.items()):
        corrections.add_metric([label], count)
    for label, count in sorted(by_label.items()):
        precision.add_metric([label], max(0.0, 1.0 - corrections_by_label.get(label, 0) / count))
    abstentions.add_metric([], total.abstained)
    quarantined.add_metric([], total.quarantined)
    lag = HistogramMetricFamily("router_ingest_lag_seconds", "From the mail's Date to routed")
    lag.add_metric([], tally.lag.cumulative(), sum_value=tally.lag.total)
    confidence = HistogramMetricFamily("router_confidence", "The classifier's top score per inquiry")
    confidence.add_metric([], tally.confidence.cumulative(), sum_value=tally.confidence.total)
    return [ingested, routed, replies, suppressed, abstentions, quarantined, errors, corrections, precision,
            lag, confidence]


class RouterCollector(Collector):
    """Reads Redis and IMAP on every scrape. `open_mailbox` is called per scrape and its result logged out."""

    def __init__(self, ledger: Ledger, feed: EventFeed, taxonomy: Taxonomy,
                 open_mailbox: Callable[[], Mailbox]) -> None:
        self.ledger = ledger
        self.feed = feed
        self.taxonomy = taxonomy
        self.open_mailbox = open_mailbox

    def collect(self) -> Iterator[Metric]:
        tally = self.feed.refresh()
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
        yield from event_metrics(tally, corrected)
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
