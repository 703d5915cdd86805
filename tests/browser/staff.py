"""Helpers for dashboard tests: a staff account, the dashboard's settings, and mail filed as the worker files it.

`file_routed` runs the real pure pipeline (parse, screen, decide, decision_record) with a given Prediction,
files the mail into its queue over IMAP and logs the event the worker logs, so pages can be tested on
exact, chosen decisions (e.g. an abstention) without depending on what the trained model says.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from worker.adapters.store import Ledger
from worker.dashboard.auth import hash_password
from worker.dashboard.settings import DashboardSettings
from worker.devstack import DevStack, StackInfo
from worker.domain import Prediction
from worker.mail.parse import parse
from worker.mail.screen import screen
from worker.pipeline import Analysis, decide_for, decision_record, policies_from
from worker.route.history import History
from worker.route.keys import message_key
from worker.route.replies import templates_env
from worker.route.taxonomy import Taxonomy, load_taxonomy
from worker.settings import Settings

STAFF_USER = "sato"
STAFF_PASSWORD = "correct horse battery staple"
STAFF_HASH = hash_password(STAFF_PASSWORD)
DESK = "support@example.com"


def router_settings_env(stack: DevStack, info: StackInfo) -> dict[str, str]:
    env = stack.env(info)
    env.update({"ROUTER_ADDRESSES": f"{DESK},helpdesk@example.com", "ROUTER_DOMAIN": "example.com",
                "ROUTER_REQUIRE_DMARC": "false"})
    return env


def dashboard_env(**overrides: str) -> dict[str, str]:
    env = {
        "ROUTER_DASHBOARD_USERS": f"{STAFF_USER}:{STAFF_HASH}",
        "ROUTER_DASHBOARD_SECRET_KEY": secrets.token_urlsafe(48),
        "ROUTER_DASHBOARD_COOKIE_SECURE": "false",  # the tests talk plain HTTP on loopback
        "ROUTER_CORRECTIONS_SCAN_SECONDS": "0",
    }
    env.update(overrides)
    return env


def settings_for(stack: DevStack, info: StackInfo, **dashboard_overrides: str) -> tuple[Settings, DashboardSettings]:
    return (Settings.from_env(router_settings_env(stack, info)),
            DashboardSettings.from_env(dashboard_env(**dashboard_overrides)))


def prediction(scores: dict[str, float], *, labels: tuple[str, ...] | None = None, needs_review: bool = False,
               version: str = "test-model") -> Prediction:
    chosen = labels if labels is not None else tuple(k for k, v in scores.items() if v >= 0.5)
    best = chosen or (max(scores, key=lambda k: scores[k]),)
    return Prediction(labels=() if needs_review else chosen, best_guess=best, scores=scores, flags=(),
                      needs_review=needs_review, model_version=version)


def file_routed(stack: DevStack, info: StackInfo, settings: Settings, raw: bytes, predicted: Prediction,
                taxonomy: Taxonomy | None = None, at: datetime | None = None) -> dict[str, Any]:
    """File `raw` where the worker would with this prediction; returns the decision record."""
    taxonomy = taxonomy or load_taxonomy()
    policies = policies_from(settings, taxonomy, templates_env(settings.templates_dir))
    inquiry = parse(raw)
    screening = screen(inquiry, policies.screening)
    analysis = Analysis(inquiry, screening, predicted if screening.kind == "inquiry" else None)
    now = at or datetime.now(UTC)
    sha = hashlib.sha256(raw).hexdigest()
    decision, _updates = decide_for(analysis, taxonomy, History.empty(), now, policies, sha)
    record = decision_record(analysis, decision, predicted.model_version, now)
    assert decision.key == message_key(inquiry, sha)
    ledger = Ledger.connect(info.redis_url, info.namespace)
    ledger.record_decision(decision.key, record)
    stack.append(raw, folder=decision.queue, user=info.imap_user)
    ledger.mark_done(decision.key, decision.queue)
    ledger.log_event({
        "event": "routed", "key": decision.key, "at": now.timestamp(),
        "received": inquiry.date.timestamp() if inquiry.date else None, "sender": inquiry.sender,
        "subject": inquiry.subject, "kind": decision.kind, "labels": list(decision.labels),
        "flags": list(decision.flags), "needs_review": decision.needs_review, "queue": decision.queue,
        "reply": "none", "suppressed_by": [hit.rule for hit in decision.suppressed_by],
        "confidence": max(predicted.scores.values()) if analysis.prediction else None,
        "model_version": predicted.model_version, "seconds": 0.01,
    })
    return record
