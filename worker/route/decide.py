"""Decide where a screened, classified mail goes and which reply (if any) it gets: pure, driven by the taxonomy.

`decide` returns the Decision `act` carries out; `decide_with_updates` also returns the LedgerUpdate saying
what to record afterwards (worker.route.history). Rules, in the order they apply:

1. Not an inquiry: the kind's folder, never a reply.
2. A follow-up in a known case: the case's queue, no new acknowledgement; a business ID it gives ends the
   wait for it (mail-safety C, issue 5 "Threads").
3. Managed XDR: their own queue; a plain acknowledgement, no out-of-scope paragraphs (the scope table
   does not apply to them).
4. Low confidence: the needs-review queue, no reply; the reply we would have sent is kept for staff.
5. Otherwise: the in-scope queue of highest taxonomy priority (or the out-of-scope queue), and one reply:
   an acknowledgement of the in-scope part, the business-ID and Remote Support requests where needed, a
   paragraph per out-of-scope request, the Preview notice.
6. Any screening hit, the per-(sender, reply kind) limit or the per-sender circuit breaker keeps the
   reply from going out (kept as suggested_reply) and is named in suppressed_by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from worker.domain import (
    INQUIRY,
    Decision,
    Inquiry,
    OutOfScopeItem,
    Prediction,
    ReplyPlan,
    RuleHit,
    Screening,
)
from worker.route.history import History, LedgerUpdate, SentReply, ThreadState
from worker.route.keys import content_digest, message_key, normalise_message_id, thread_key
from worker.route.taxonomy import Taxonomy

# Reply templates (templates/<lang>/<template>.*) and the sections a reply can contain.
ACKNOWLEDGEMENT = "acknowledgement"
OUT_OF_SCOPE = "out_of_scope"
TEMPLATES = (ACKNOWLEDGEMENT, OUT_OF_SCOPE)
BUSINESS_ID_REQUEST = "business_id_request"
REMOTE_SUPPORT_REQUEST = "remote_support_request"
PREVIEW_NOTICE = "preview_notice"
SECTIONS = (ACKNOWLEDGEMENT, BUSINESS_ID_REQUEST, REMOTE_SUPPORT_REQUEST, OUT_OF_SCOPE, PREVIEW_NOTICE)

MANAGED_EFFECT = "managed_queue"
PREVIEW_EFFECT = "preview_notice"


@dataclass(frozen=True, kw_only=True)
class ReplyPolicy:
    """Limits on automatic replies and the few decisions the taxonomy file does not carry.

    `remote_look_labels`: in-scope labels that, besides those whose taxonomy `requires` names the business
    ID, get the business-ID and Remote Support requests, because answering them may need a remote look at
    the customer's console (the seed page's remote investigation applies to individual detections too).
    """

    per_sender_kind_window: timedelta = timedelta(days=7)
    breaker_max: int = 10
    breaker_window: timedelta = timedelta(minutes=180)
    remote_look_labels: tuple[str, ...] = ("detection",)
    quote_max_chars: int = 200

    def __post_init__(self) -> None:
        # RFC 5230 section 4.1 / Pigeonhole: the per-sender period is at least 1 day; Pigeonhole caps it at 60.
        if not timedelta(days=1) <= self.per_sender_kind_window <= timedelta(days=60):
            raise ValueError("ReplyPolicy.per_sender_kind_window must be between 1 and 60 days")
        if self.breaker_max < 1 or self.breaker_window <= timedelta(0):
            raise ValueError("ReplyPolicy breaker needs breaker_max >= 1 and a positive breaker_window")
        if self.quote_max_chars < 20:
            raise ValueError("ReplyPolicy.quote_max_chars must leave room for the customer's sentence")


def reply_kind(plan: ReplyPlan) -> str:
    """The kind a reply counts as for the per-(sender, kind) limit: its sections and out-of-scope labels.

    Two different requests from one customer in a week each deserve their answer; the same answer to
    the same sender twice in a week is what RFC 3834 section 2 forbids (and what a loop produces).
    """
    kind = "+".join(plan.sections)
    labels = sorted(item.label for item in plan.out_of_scope)
    return kind + (":" + ",".join(labels) if labels else "")


def decide(
    inquiry: Inquiry,
    screening: Screening,
    prediction: Prediction | None,
    taxonomy: Taxonomy,
    history: History,
    now: datetime,
    policy: ReplyPolicy,
    *,
    raw_sha256: str | None = None,
) -> Decision:
    """The Decision alone; see `decide_with_updates` for what to record in the ledger."""
    return decide_with_updates(
        inquiry, screening, prediction, taxonomy, history, now, policy, raw_sha256=raw_sha256
    )[0]


def decide_with_updates(
    inquiry: Inquiry,
    screening: Screening,
    prediction: Prediction | None,
    taxonomy: Taxonomy,
    history: History,
    now: datetime,
    policy: ReplyPolicy,
    *,
    raw_sha256: str | None = None,
) -> tuple[Decision, LedgerUpdate]:
    """Decide, and say what the ledger records: `thread` at once, the rest only after a successful send.

    `raw_sha256` (hex digest of the raw bytes) keys mail without a Message-ID; without it, a digest of
    the parsed headers and body is used (worker.route.keys.content_digest).
    """
    key = message_key(inquiry, raw_sha256 or content_digest(inquiry))
    case = history.thread.thread_key if history.thread is not None else thread_key(inquiry)
    inbound_id = normalise_message_id(inquiry.message_id)
    inbound_ids = (inbound_id,) if inbound_id else ()

    if screening.kind != INQUIRY:
        decision = Decision(
            key=key, kind=screening.kind, queue=taxonomy.kind_folders[screening.kind], labels=(), flags=(),
            needs_review=False, business_id=None, reply=None, suppressed_by=screening.hits, thread_key=case,
        )
        return decision, LedgerUpdate(sender=inquiry.sender, thread=None, message_ids=inbound_ids)

    if history.thread is not None:
        return _follow_up(inquiry, screening, prediction, history.thread, key, inbound_ids)

    if prediction is None:
        return _needs_review(
            inquiry, screening, (), (), None, taxonomy, key, case, inbound_ids,
            RuleHit("no_prediction", "no classifier prediction for this inquiry"),
        )

    unknown = [label for label in (*prediction.labels, *prediction.best_guess) if label not in taxonomy.labels]
    flags = prediction.flags
    managed = _has_effect(flags, taxonomy, MANAGED_EFFECT)
    labels = prediction.best_guess if prediction.needs_review or not prediction.labels else prediction.labels
    labels = tuple(label for label in labels if label in taxonomy.labels)

    if managed:
        queue = taxonomy.managed_xdr_folder
        plan: ReplyPlan | None = ReplyPlan(
            template=ACKNOWLEDGEMENT, language=_language(inquiry), to=inquiry.sender, sections=(ACKNOWLEDGEMENT,)
        )
    else:
        plan = _plan(inquiry, prediction, labels, taxonomy, policy)
        if unknown or prediction.needs_review or not prediction.labels:
            reason = (
                f"labels unknown to the taxonomy: {', '.join(unknown)}" if unknown
                else "the classifier is not confident enough to answer automatically"
            )
            return _needs_review(
                inquiry, screening, labels, flags, plan, taxonomy, key, case, inbound_ids,
                RuleHit("low_confidence", reason),
            )
        queue = _queue(labels, taxonomy)

    business_id = inquiry.business_id
    thread = ThreadState(thread_key=case, queue=queue, business_id=business_id, labels=labels)
    blocked = list(screening.hits)
    if managed and prediction.needs_review:
        # Managed XDR staff read every mail in their queue; an unsure guess still gets no automatic reply.
        blocked.append(RuleHit("low_confidence", "the classifier is not confident enough to answer automatically"))
    if plan is not None:
        blocked += _limits(inquiry, plan, history, now, policy)
    if plan is None:
        blocked.append(RuleHit("nothing_to_answer", "no label to acknowledge or explain"))
    elif not _is_replyable(inquiry.sender):
        blocked.append(RuleHit("no_recipient", f"the From address {inquiry.sender[:80]!r} cannot be answered"))

    if blocked:
        decision = Decision(
            key=key, kind=INQUIRY, queue=queue, labels=labels, flags=flags,
            needs_review=prediction.needs_review, business_id=business_id, reply=None,
            suggested_reply=plan, suppressed_by=tuple(blocked), thread_key=case,
        )
        return decision, LedgerUpdate(sender=inquiry.sender, thread=thread, message_ids=inbound_ids)

    assert plan is not None
    decision = Decision(
        key=key, kind=INQUIRY, queue=queue, labels=labels, flags=flags, needs_review=False,
        business_id=business_id, reply=plan, thread_key=case,
    )
    update = LedgerUpdate(
        sender=inquiry.sender,
        thread=thread,
        thread_after_send=replace(thread, waiting_for_business_id=BUSINESS_ID_REQUEST in plan.sections),
        sent_reply=SentReply(kind=reply_kind(plan), sent_at=now),
        message_ids=inbound_ids,
    )
    return decision, update


def _follow_up(
    inquiry: Inquiry,
    screening: Screening,
    prediction: Prediction | None,
    thread: ThreadState,
    key: str,
    inbound_ids: tuple[str, ...],
) -> tuple[Decision, LedgerUpdate]:
    """A mail in a known case joins the case's queue; no new acknowledgement, no second business-ID request."""
    given = inquiry.business_id
    business_id = given or thread.business_id
    labels = tuple(dict.fromkeys((*thread.labels, *(prediction.labels if prediction else ()))))
    updated = replace(
        thread,
        waiting_for_business_id=thread.waiting_for_business_id and given is None,
        business_id=business_id,
        labels=labels,
    )
    reason = "follow-up in a known case: it joins the case, no new acknowledgement"
    if thread.waiting_for_business_id and given is not None:
        reason += f"; business ID {given} received, no longer waiting for it"
    decision = Decision(
        key=key, kind=INQUIRY, queue=thread.queue, labels=labels,
        flags=prediction.flags if prediction else (),
        # Staff of the case's queue read the follow-up in context; it is not a new triage question.
        needs_review=False,
        business_id=business_id, reply=None,
        suppressed_by=(*screening.hits, RuleHit("thread_follow_up", reason)),
        thread_key=thread.thread_key,
    )
    return decision, LedgerUpdate(sender=inquiry.sender, thread=updated, message_ids=inbound_ids)


def _needs_review(
    inquiry: Inquiry,
    screening: Screening,
    labels: tuple[str, ...],
    flags: tuple[str, ...],
    plan: ReplyPlan | None,
    taxonomy: Taxonomy,
    key: str,
    case: str,
    inbound_ids: tuple[str, ...],
    why: RuleHit,
) -> tuple[Decision, LedgerUpdate]:
    """Abstain: a human decides; the reply we would have sent stays one click away (suggested_reply)."""
    queue = taxonomy.needs_review_folder
    decision = Decision(
        key=key, kind=INQUIRY, queue=queue, labels=labels, flags=flags, needs_review=True,
        business_id=inquiry.business_id, reply=None, suggested_reply=plan,
        suppressed_by=(*screening.hits, why), thread_key=case,
    )
    thread = ThreadState(thread_key=case, queue=queue, business_id=inquiry.business_id, labels=labels)
    return decision, LedgerUpdate(sender=inquiry.sender, thread=thread, message_ids=inbound_ids)


# A plain addr-spec (RFC 5322 section 3.4.1, dot-atom local part): anything stranger is left to staff rather
# than risked in a header we write.
_ADDR_SPEC = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


def _is_replyable(address: str) -> bool:
    return len(address) <= 254 and _ADDR_SPEC.match(address) is not None


def _has_effect(flags: tuple[str, ...], taxonomy: Taxonomy, effect: str) -> bool:
    return any(flag.id in flags and flag.effect == effect for flag in taxonomy.flags)


def _language(inquiry: Inquiry) -> str:
    # The desk is Japanese: anything not clearly English is answered in Japanese.
    return "en" if inquiry.language == "en" else "ja"


def _by_priority(labels: tuple[str, ...], taxonomy: Taxonomy) -> tuple[str, ...]:
    order = {c.id: (c.priority, i) for i, c in enumerate(taxonomy.categories)}
    return tuple(sorted(labels, key=lambda label: order[label]))


def _queue(labels: tuple[str, ...], taxonomy: Taxonomy) -> str:
    """The queue of the in-scope label of highest priority; else that of the first out-of-scope label."""
    in_scope = [label for label in labels if taxonomy.category(label).in_scope]
    chosen = _by_priority(tuple(in_scope or labels), taxonomy)[0]
    return taxonomy.category(chosen).queue


def _plan(
    inquiry: Inquiry,
    prediction: Prediction,
    labels: tuple[str, ...],
    taxonomy: Taxonomy,
    policy: ReplyPolicy,
) -> ReplyPlan | None:
    """The one reply a new inquiry gets, or None when it carries no label at all."""
    if not labels:
        return None
    in_scope = _by_priority(tuple(label for label in labels if taxonomy.category(label).in_scope), taxonomy)
    # Without a sentence for the label, the subject stands in only when the whole mail is out of scope:
    # in a mixed mail the subject usually names the in-scope question, and quoting it under "outside the
    # support scope" would say exactly what a reply must never say about an in-scope item.
    fallback = "" if in_scope else inquiry.subject
    out_of_scope = tuple(
        OutOfScopeItem(label=label, quote=_quote(prediction, label, fallback, policy.quote_max_chars))
        for label in _by_priority(tuple(label for label in labels if label not in in_scope), taxonomy)
    )
    if not in_scope:
        return ReplyPlan(
            template=OUT_OF_SCOPE, language=_language(inquiry), to=inquiry.sender,
            sections=(OUT_OF_SCOPE,), out_of_scope=out_of_scope,
        )
    sections = [ACKNOWLEDGEMENT]
    needs_remote_look = any(
        "business_id" in taxonomy.category(label).requires or label in policy.remote_look_labels
        for label in in_scope
    )
    if needs_remote_look:
        if not inquiry.business_id:
            sections.append(BUSINESS_ID_REQUEST)
        sections.append(REMOTE_SUPPORT_REQUEST)
    if out_of_scope:
        sections.append(OUT_OF_SCOPE)
    if _has_effect(prediction.flags, taxonomy, PREVIEW_EFFECT):
        sections.append(PREVIEW_NOTICE)
    return ReplyPlan(
        template=ACKNOWLEDGEMENT, language=_language(inquiry), to=inquiry.sender, sections=tuple(sections),
        out_of_scope=out_of_scope, in_scope_labels=in_scope,
    )


def _quote(prediction: Prediction, label: str, fallback: str, limit: int) -> str:
    """The customer's sentence that carried the request (else `fallback`), on one line, at most `limit` chars."""
    evidence = prediction.evidence.get(label, ())
    text = evidence[0] if evidence else fallback
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _limits(inquiry: Inquiry, plan: ReplyPlan, history: History, now: datetime, policy: ReplyPolicy) -> list[RuleHit]:
    """RFC 3834 section 2 / Pigeonhole: one reply of a kind per sender per window; plus a circuit breaker."""
    hits = []
    kind = reply_kind(plan)
    same_kind = [r for r in history.replies_to_sender if r.kind == kind and now - r.sent_at < policy.per_sender_kind_window]
    if same_kind:
        last = max(r.sent_at for r in same_kind)
        hits.append(RuleHit(
            "rate_limit",
            f"a reply of kind {kind} went to {inquiry.sender} at {last.isoformat()}, "
            f"within {policy.per_sender_kind_window.days} days",
        ))
    recent = [r for r in history.replies_to_sender if now - r.sent_at < policy.breaker_window]
    if len(recent) >= policy.breaker_max:
        minutes = int(policy.breaker_window.total_seconds() // 60)
        hits.append(RuleHit(
            "circuit_breaker",
            f"{len(recent)} automatic replies to {inquiry.sender} in {minutes} minutes (limit {policy.breaker_max})",
        ))
    return hits
