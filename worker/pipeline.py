"""The pure middle of the flow: raw bytes -> Inquiry -> Screening -> Prediction, then -> Decision.

The worker and `python -m worker classify` both call exactly these functions, so what the CLI prints is
what the worker would do. Nothing here does I/O; history and time are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jinja2

from worker.classify.model import Classifier
from worker.domain import INQUIRY, Decision, Inquiry, OutOfScopeItem, Prediction, ReplyPlan, Screening
from worker.mail.parse import DEFAULT_LIMITS, ParseLimits, parse
from worker.mail.screen import ScreeningPolicy, screen
from worker.route.decide import ReplyPolicy, decide_with_updates
from worker.route.history import History, LedgerUpdate
from worker.route.replies import ReplySettings
from worker.route.taxonomy import Taxonomy
from worker.settings import Settings


@dataclass(frozen=True)
class Policies:
    """Everything the pure stages need from configuration, built once per process."""

    screening: ScreeningPolicy
    reply: ReplyPolicy
    reply_settings: ReplySettings
    limits: ParseLimits
    templates: jinja2.Environment


@dataclass(frozen=True)
class Analysis:
    inquiry: Inquiry
    screening: Screening
    prediction: Prediction | None  # None for non-inquiries: they are never classified


def policies_from(settings: Settings, taxonomy: Taxonomy, templates: jinja2.Environment) -> Policies:
    return Policies(
        screening=ScreeningPolicy(
            our_addresses=settings.our_addresses,
            our_domain=settings.our_domain,
            authserv_id=settings.authserv_id,
            require_dmarc=settings.require_dmarc,
        ),
        reply=ReplyPolicy(
            per_sender_kind_window=timedelta(days=settings.reply_window_days),
            breaker_max=settings.breaker_max,
            breaker_window=timedelta(minutes=settings.breaker_minutes),
        ),
        reply_settings=ReplySettings(
            from_address=settings.from_address,
            from_name={"ja": settings.desk_name_ja, "en": settings.desk_name_en},
            our_domain=settings.our_domain,
            links=dict(taxonomy.links),
        ),
        limits=ParseLimits(max_bytes=settings.max_message_bytes),
        templates=templates,
    )


def analyse(raw: bytes, classifier: Classifier, policies: Policies) -> Analysis:
    """Parse, screen and (for inquiries) classify. Raises ParseError for mail we cannot read."""
    return assess(parse(raw, policies.limits), classifier, policies)


def assess(inquiry: Inquiry, classifier: Classifier, policies: Policies) -> Analysis:
    """Screen and (for inquiries) classify a parsed mail."""
    screening = screen(inquiry, policies.screening)
    prediction = classifier.predict(inquiry) if screening.kind == INQUIRY else None
    return Analysis(inquiry, screening, prediction)


def decide_for(
    analysis: Analysis, taxonomy: Taxonomy, history: History, now: datetime, policies: Policies, raw_sha256: str
) -> tuple[Decision, LedgerUpdate]:
    return decide_with_updates(
        analysis.inquiry, analysis.screening, analysis.prediction, taxonomy, history, now, policies.reply,
        raw_sha256=raw_sha256,
    )


def decision_record(analysis: Analysis, decision: Decision, model_version: str, now: datetime) -> dict[str, Any]:
    """The JSON the ledger keeps for a routed mail: what staff and the correction loop look at later."""
    prediction = analysis.prediction
    inquiry = analysis.inquiry
    return {
        "key": decision.key,
        "at": now.timestamp(),
        "message_id": inquiry.message_id,
        "sender": inquiry.sender,
        "subject": inquiry.subject,
        "language": inquiry.language,
        "kind": decision.kind,
        "labels": list(decision.labels),
        "flags": list(decision.flags),
        "scores": dict(prediction.scores) if prediction else {},
        "evidence": {k: list(v) for k, v in prediction.evidence.items()} if prediction else {},
        "needs_review": decision.needs_review,
        "business_id": decision.business_id,
        "queue": decision.queue,
        "thread_key": decision.thread_key,
        "reply": plan_record(decision.reply),
        "suggested_reply": plan_record(decision.suggested_reply),
        "screening": [{"rule": h.rule, "reason": h.reason} for h in analysis.screening.hits],
        "suppressed_by": [{"rule": h.rule, "reason": h.reason} for h in decision.suppressed_by],
        "model_version": model_version,
    }


def plan_record(plan: ReplyPlan | None) -> dict[str, Any] | None:
    """A ReplyPlan as JSON, so staff can send a suggested reply later exactly as it was planned."""
    if plan is None:
        return None
    return {
        "template": plan.template,
        "language": plan.language,
        "to": plan.to,
        "sections": list(plan.sections),
        "out_of_scope": [{"label": item.label, "quote": item.quote} for item in plan.out_of_scope],
        "in_scope_labels": list(plan.in_scope_labels),
    }


def plan_from_record(record: dict[str, Any]) -> ReplyPlan:
    return ReplyPlan(
        template=record["template"],
        language=record["language"],
        to=record["to"],
        sections=tuple(record["sections"]),
        out_of_scope=tuple(OutOfScopeItem(i["label"], i["quote"]) for i in record.get("out_of_scope", ())),
        in_scope_labels=tuple(record.get("in_scope_labels", ())),
    )


__all__ = ["DEFAULT_LIMITS", "Analysis", "Policies", "analyse", "assess", "decide_for", "decision_record", "policies_from"]
