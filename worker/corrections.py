"""The correction loop: record where staff moved a routed mail, find moves made in mail clients, export them.

A correction says: this mail (key) was routed to `from_queue` with `from_labels` by model `model_version`,
and staff put it in `to_queue`, meaning `to_labels` (or another kind). Corrections come from the dashboard's
re-route button and from a periodic scan that compares where each routed mail is now with where it was
put last; both land in one Redis stream beside the ledger, and `python -m worker corrections` writes them
to training_data/corrections.jsonl in the training format (training_data/README.md, source "correction").
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from imapclient.exceptions import IMAPClientError

from worker.adapters.imap import Mailbox
from worker.adapters.store import DECISION_TTL, Ledger
from worker.dashboard.folders import key_for_raw, list_messages, search_uids
from worker.domain import INQUIRY
from worker.mail.parse import ParseError, parse
from worker.route.taxonomy import Taxonomy, load_taxonomy
from worker.settings import REPO_ROOT, Settings, SettingsError

EXPORT_PATH = REPO_ROOT / "training_data" / "corrections.jsonl"
STREAM_MAXLEN = 100_000
SCAN_LEASE = "corrections-scan"


@dataclass(frozen=True)
class Target:
    """What a folder means when staff put a mail there: its kind, labels and flags (labels may be unknown)."""

    kind: str
    labels: tuple[str, ...]
    flags: tuple[str, ...]
    labels_known: bool


@dataclass(frozen=True)
class Correction:
    key: str
    at: float
    who: str
    source: str  # "dashboard" (re-route button) or "scan" (moved in a mail client)
    from_queue: str
    to_queue: str
    from_labels: tuple[str, ...]
    to_labels: tuple[str, ...]
    kind: str
    flags: tuple[str, ...]
    labels_known: bool  # false when the folder alone cannot say which category (e.g. the shared out-of-scope queue)
    model_version: str
    message_id: str | None
    subject: str
    body: str
    lang: str
    business_id: str | None

    def record(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("from_labels", "to_labels", "flags"):
            data[name] = list(data[name])
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Correction:
        values = dict(data)
        for name in ("from_labels", "to_labels", "flags"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)


# --- pure rules -------------------------------------------------------------------------------------------


def target_for_folder(taxonomy: Taxonomy, folder: str, previous: dict[str, Any]) -> Target | None:
    """What moving a mail into `folder` says about it, given its decision record; None if it says nothing.

    NeedsReview and Quarantine are places to park mail, not answers, so a move there teaches nothing.
    """
    labels = tuple(previous.get("labels", ()))
    flags = tuple(f for f in previous.get("flags", ()) if f in taxonomy.flag_ids)
    for kind, kind_folder in taxonomy.kind_folders.items():
        if folder == kind_folder:
            return Target(kind=kind, labels=(), flags=(), labels_known=True)
    if folder == taxonomy.managed_xdr_folder:
        managed = tuple(dict.fromkeys((*flags, "managed_xdr")))
        return Target(INQUIRY, labels, managed, labels_known=bool(labels))
    categories = [c for c in taxonomy.categories if c.queue == folder]
    if not categories:
        return None
    ids = tuple(c.id for c in categories)
    if len(ids) == 1:
        return Target(INQUIRY, ids, flags, labels_known=True)
    # A shared queue (all out-of-scope categories): keep the labels of the predicted set that belong there.
    kept = tuple(label for label in labels if label in ids)
    return Target(INQUIRY, kept, flags, labels_known=bool(kept))


def target_for_label(taxonomy: Taxonomy, label: str, previous: dict[str, Any]) -> tuple[str, Target]:
    """The queue and meaning of a re-route to one category chosen in the dashboard."""
    category = taxonomy.category(label)
    flags = tuple(f for f in previous.get("flags", ()) if f in taxonomy.flag_ids)
    return category.queue, Target(INQUIRY, (label,), flags, labels_known=True)


def training_record(correction: Correction) -> dict[str, Any] | None:
    """The correction as a training example, or None when it cannot teach (labels unknown, no text)."""
    if not correction.labels_known or not (correction.subject or correction.body):
        return None
    if correction.kind == INQUIRY and not correction.to_labels:
        return None
    return {
        "id": f"correction-{correction.key}",
        "kind": correction.kind,
        "lang": correction.lang if correction.lang in ("ja", "en") else "en",
        "subject": correction.subject,
        "body": correction.body,
        "labels": list(correction.to_labels) if correction.kind == INQUIRY else [],
        "flags": list(correction.flags) if correction.kind == INQUIRY else [],
        "business_id": correction.business_id,
        "source": "correction",
    }


def training_records(corrections: Iterable[Correction]) -> list[dict[str, Any]]:
    """One example per mail, the latest correction winning (staff may move a mail twice), oldest first."""
    latest: dict[str, Correction] = {}
    for correction in sorted(corrections, key=lambda c: c.at):
        latest[correction.key] = correction
    records = [training_record(c) for c in latest.values()]
    return [r for r in records if r is not None]


def build_correction(
    *, key: str, decision: dict[str, Any], raw: bytes | None, from_queue: str, to_queue: str, target: Target,
    who: str, source: str, at: float,
) -> Correction:
    subject, body, lang, business_id = decision.get("subject", ""), "", decision.get("language", "en"), None
    if raw is not None:
        try:
            inquiry = parse(raw)
        except ParseError:
            pass
        else:
            subject, body, lang, business_id = inquiry.subject, inquiry.body_text, inquiry.language, inquiry.business_id
    return Correction(
        key=key, at=at, who=who, source=source, from_queue=from_queue, to_queue=to_queue,
        from_labels=tuple(decision.get("labels", ())), to_labels=target.labels, kind=target.kind,
        flags=target.flags, labels_known=target.labels_known,
        model_version=str(decision.get("model_version", "unknown")), message_id=decision.get("message_id"),
        subject=subject or "", body=body, lang=lang or "en", business_id=business_id or decision.get("business_id"),
    )


# --- the Redis side ---------------------------------------------------------------------------------------


class CorrectionLog:
    """Corrections (a stream) and where each corrected mail was last put (a hash), next to the ledger's keys."""

    def __init__(self, ledger: Ledger) -> None:
        self.redis = ledger.redis
        self.stream = ledger.prefix + "corrections"
        self.placements = ledger.prefix + "placement"

    def record(self, correction: Correction) -> None:
        pipe = self.redis.pipeline()
        pipe.xadd(self.stream, {"json": json.dumps(correction.record(), ensure_ascii=False)},
                  maxlen=STREAM_MAXLEN, approximate=True)
        pipe.hset(self.placements, correction.key, correction.to_queue)
        pipe.expire(self.placements, DECISION_TTL)
        pipe.execute()

    def placed(self, key: str) -> str | None:
        value = self.redis.hget(self.placements, key)
        return value.decode() if isinstance(value, bytes) else None

    def place(self, key: str, folder: str) -> None:
        self.redis.hset(self.placements, key, folder)

    def all(self, count: int = STREAM_MAXLEN) -> list[Correction]:
        rows = cast(list[tuple[bytes, dict[bytes, bytes]]], self.redis.xrange(self.stream, count=count))
        return [Correction.from_record(json.loads(fields[b"json"])) for _id, fields in rows]


# --- the scan ---------------------------------------------------------------------------------------------


def scan_folders(mailbox: Mailbox, ledger: Ledger, taxonomy: Taxonomy, *, who: str = "mail client",
                 now: float | None = None) -> list[Correction]:
    """Compare where each routed mail is with where it was put last; record and return each difference."""
    log = CorrectionLog(ledger)
    found: list[Correction] = []
    at = time.time() if now is None else now
    for folder in taxonomy.all_folders():
        if folder == taxonomy.quarantine_folder:
            continue
        uids = search_uids(mailbox, folder)
        for listed in list_messages(mailbox, folder, uids):
            raw = None
            key = listed.key
            if key is None:
                raw = mailbox.fetch(folder, listed.uid)
                if raw is None:
                    continue
                key = key_for_raw(raw, None)
            decision = ledger.decision(key)
            if decision is None or decision.get("kind") == "quarantine":
                continue  # not ours, or parked by the worker: nothing was predicted
            expected = log.placed(key) or str(decision.get("queue", ""))
            if folder == expected:
                continue
            target = target_for_folder(taxonomy, folder, decision)
            if target is None:
                log.place(key, folder)  # parked by staff; remember it so we do not look again
                continue
            if raw is None:
                raw = mailbox.fetch(folder, listed.uid)
            correction = build_correction(key=key, decision=decision, raw=raw, from_queue=expected,
                                          to_queue=folder, target=target, who=who, source="scan", at=at)
            log.record(correction)
            found.append(correction)
    return found


def scan_once(settings: Settings, taxonomy: Taxonomy) -> list[Correction]:
    """One scan under a Redis lease, so several dashboards never record the same move twice."""
    ledger = Ledger.connect(settings.redis_url, settings.imap.name)
    owner = f"{os.getpid()}:{time.time()}"
    if not ledger.claim(SCAN_LEASE, owner, 600):
        return []
    try:
        mailbox = Mailbox.connect(settings.imap)
        try:
            return scan_folders(mailbox, ledger, taxonomy)
        finally:
            mailbox.logout()
    finally:
        ledger.release(SCAN_LEASE, owner)


# --- export -----------------------------------------------------------------------------------------------


def export_corrections(ledger: Ledger, path: Path = EXPORT_PATH) -> int:
    """Write every usable correction as training data (atomically replaced); returns how many examples."""
    records = training_records(CorrectionLog(ledger).all())
    if not records:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    tmp.replace(path)
    return len(records)


def export_corrections_cli() -> int:
    """`python -m worker corrections`: scan the queue folders once, then export to training_data/."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"python -m worker corrections: {exc}", file=sys.stderr)
        return 2
    path = Path(os.environ.get("ROUTER_CORRECTIONS_FILE", str(EXPORT_PATH)))
    taxonomy = load_taxonomy()
    try:
        scanned = scan_once(settings, taxonomy)
    except (OSError, IMAPClientError) as exc:
        print(f"python -m worker corrections: IMAP scan skipped ({exc}); exporting what is recorded",
              file=sys.stderr)
        scanned = []
    count = export_corrections(Ledger.connect(settings.redis_url, settings.imap.name), path)
    print(f"{len(scanned)} new correction(s) from mail clients; {count} example(s) written to {path}")
    return 0
