"""The worker's pipeline without a mailbox: what `python -m worker classify` prints for one raw mail.

Same functions as the worker (parse, screen, classify, decide); the ledger is empty (a first contact)
and nothing is sent. Our addresses come from ROUTER_ADDRESSES when set; otherwise each file is taken
to have been addressed to the desk (its own To/Cc), so reply eligibility is judged on everything else.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime
from typing import Any

from worker.classify.model import Classifier
from worker.domain import Inquiry
from worker.mail.parse import DEFAULT_LIMITS, parse
from worker.mail.screen import ScreeningPolicy, screen
from worker.pipeline import Analysis, Policies, decide_for
from worker.route.decide import ReplyPolicy
from worker.route.history import History
from worker.route.replies import ReplySettings, templates_env
from worker.route.taxonomy import Taxonomy

PLACEHOLDER_ADDRESS = "support@desk.invalid"


def offline_policies(taxonomy: Taxonomy) -> Policies:
    addresses = tuple(a.strip().lower() for a in os.environ.get("ROUTER_ADDRESSES", "").split(",") if a.strip())
    domain = os.environ.get("ROUTER_DOMAIN") or (addresses[0].rsplit("@", 1)[1] if addresses else "desk.invalid")
    authserv_id = os.environ.get("ROUTER_AUTHSERV_ID") or None
    return Policies(
        screening=ScreeningPolicy(
            our_addresses=addresses or (PLACEHOLDER_ADDRESS,),
            our_domain=domain,
            authserv_id=authserv_id,
            require_dmarc=bool(authserv_id) and os.environ.get("ROUTER_REQUIRE_DMARC", "true").lower() == "true",
        ),
        reply=ReplyPolicy(),
        reply_settings=ReplySettings(
            from_address=(addresses or (PLACEHOLDER_ADDRESS,))[0],
            from_name={"ja": "Vision One サポートセンター", "en": "Vision One Support Center"},
            our_domain=domain,
            links=dict(taxonomy.links),
        ),
        limits=DEFAULT_LIMITS,
        templates=templates_env(),
    )


def classify_raw(raw: bytes, classifier: Classifier, policies: Policies, now: datetime) -> dict[str, Any]:
    import hashlib

    inquiry = parse(raw, policies.limits)
    screening_policy = policies.screening
    if screening_policy.our_addresses == (PLACEHOLDER_ADDRESS,):
        screening_policy = replace(screening_policy, our_addresses=_addressed(inquiry))
    screening = screen(inquiry, screening_policy)
    prediction = classifier.predict(inquiry) if screening.kind == "inquiry" else None
    analysis = Analysis(inquiry, screening, prediction)
    decision, _ = decide_for(analysis, classifier.taxonomy, History.empty(), now, policies, hashlib.sha256(raw).hexdigest())
    return {
        "message_id": inquiry.message_id,
        "kind": decision.kind,
        "language": inquiry.language,
        "labels": list(prediction.best_guess if prediction else ()),
        "scores": {k: round(v, 4) for k, v in prediction.scores.items()} if prediction else {},
        "flags": list(decision.flags),
        "business_id": decision.business_id,
        "needs_review": decision.needs_review,
        "queue": decision.queue,
        "replies": list(decision.reply.sections) if decision.reply else [],
    }


def _addressed(inquiry: Inquiry) -> tuple[str, ...]:
    return tuple(a for a in inquiry.recipients if "@" in a) or (PLACEHOLDER_ADDRESS,)
