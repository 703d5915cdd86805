"""Render one reply (a ReplyPlan) into an RFC 5322 message that is safe to send to a customer.

Texts live only in templates/ (per language: subject, text/plain body, HTML body, and partials); this
module supplies the values and writes the headers mail-safety section B asks for. Customer text reaches
templates only as variables, and reaches headers only through `header_text`, which removes CR, LF, NUL
and every other control character, also those an encoded-word decoded into.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from worker.domain import Decision, Inquiry, ReplyPlan
from worker.route.decide import TEMPLATES
from worker.route.keys import normalise_message_id, reply_message_id
from worker.route.taxonomy import Taxonomy

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
LANGUAGES = ("ja", "en")
# Partials the reply templates include (per language, .txt and .html), besides one per out-of-scope redirect:
# the opening and closing every reply has, and one per optional section of a ReplyPlan.
PARTIALS = ("opening", "closing", "out_of_scope_items", "business_id_request", "remote_support_request",
            "preview_notice")
REQUIRED_LINKS = ("remote_support", "preview")
SUBJECT_MAX_CHARS = 200
NAME_MAX_CHARS = 80
QUOTE_MAX_CHARS = 300
REFERENCES_MAX = 20

# Reply and forward prefixes mailers put before a subject, so ours does not read "Re: RE: Fw: 転送: ..."
# (Outlook localises them; Japanese clients write 返信/転送, German AW/WG, Nordic SV/VS).
_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|返信|転送)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class ReplySettings:
    """Who replies and from where. `from_name` maps a language to the desk's name in it ("ja", "en")."""

    from_address: str
    from_name: Mapping[str, str]
    our_domain: str
    loop_header: str = "X-XDR-Router-Loop"
    links: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Address(addr_spec=self.from_address)  # raises on a malformed address
        missing = [lang for lang in LANGUAGES if not self.from_name.get(lang)]
        if missing:
            raise ValueError(f"ReplySettings.from_name needs the desk name in {', '.join(missing)}")
        absent = [name for name in REQUIRED_LINKS if not self.links.get(name)]
        if absent:
            raise ValueError(f"ReplySettings.links needs {', '.join(absent)} (taxonomy [links])")

    @classmethod
    def from_taxonomy(
        cls,
        taxonomy: Taxonomy,
        *,
        from_address: str,
        from_name: Mapping[str, str],
        our_domain: str,
        loop_header: str = "X-XDR-Router-Loop",
    ) -> ReplySettings:
        """Settings whose links (KA pages) are the taxonomy's, so one file says where customers are sent."""
        return cls(
            from_address=from_address, from_name=dict(from_name), our_domain=our_domain,
            loop_header=loop_header, links=dict(taxonomy.links),
        )


@lru_cache(maxsize=4)
def templates_env(templates_dir: Path = DEFAULT_TEMPLATES_DIR) -> jinja2.Environment:
    """The template environment: StrictUndefined, HTML autoescaped, sandboxed (templates are ours, values are not)."""
    return SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def template_names(template: str, language: str) -> tuple[str, str, str]:
    """The subject, text and HTML template of one reply in one language."""
    base = f"{language}/{template}"
    return f"{base}.subject.txt", f"{base}.text.txt", f"{base}.html"


def expected_templates(taxonomy: Taxonomy) -> frozenset[str]:
    """Every template file the replies use: a missing one is a bug, and so is any other file (an orphan)."""
    redirects = sorted({c.redirect for c in taxonomy.categories if c.redirect})
    names: set[str] = set()
    for language in LANGUAGES:
        for template in TEMPLATES:
            names.update(template_names(template, language))
        for partial in PARTIALS:
            names.update({f"{language}/partials/{partial}.txt", f"{language}/partials/{partial}.html"})
        for redirect in redirects:
            names.update({f"{language}/partials/redirect/{redirect}.txt", f"{language}/partials/redirect/{redirect}.html"})
    return frozenset(names)


def header_text(value: str, limit: int) -> str:
    """Text safe inside a header we write: no control characters (CR, LF, NUL...), no line separators, one line.

    Encoded-words are decoded before they reach us (worker.mail.parse), so a "=?utf-8?q?a=0D=0AX:?="
    arrives here as a real CR LF and is removed like any other.
    """
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in value
        if unicodedata.category(ch) != "Cf" or ch == "\u200d"
    )
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def customer_name(display_name: str) -> str:
    """The name to address the customer by, without an honorific the sender already put in (山田様 様)."""
    name = header_text(display_name, NAME_MAX_CHARS).strip("\"' ")
    return re.sub(r"\s*(?:様|さま|殿)$", "", name)


def strip_reply_prefixes(subject: str) -> str:
    """The subject without any stack of Re:/RE:/Fw:/Fwd:/AW:/返信:/転送: prefixes."""
    return _PREFIX.sub("", subject).strip()


def reply_subject_text(subject: str) -> str:
    return strip_reply_prefixes(header_text(subject, SUBJECT_MAX_CHARS))


def _context(plan: ReplyPlan, inquiry: Inquiry, settings: ReplySettings, taxonomy: Taxonomy) -> dict[str, Any]:
    language = plan.language
    return {
        "language": language,
        "sections": plan.sections,
        "customer_name": customer_name(inquiry.sender_name),
        "subject": reply_subject_text(inquiry.subject),
        "in_scope": [
            {"label": label, "name": taxonomy.category(label).name(language)} for label in plan.in_scope_labels
        ],
        "out_of_scope": [
            {
                "label": item.label,
                "name": taxonomy.category(item.label).name(language),
                "redirect": taxonomy.category(item.label).redirect,
                "quote": header_text(item.quote, QUOTE_MAX_CHARS),
            }
            for item in plan.out_of_scope
        ],
        "links": dict(settings.links),
        "desk_name": settings.from_name[language],
        "desk_address": settings.from_address,
    }


def _message_ids(values: tuple[str | None, ...]) -> list[str]:
    ids = [normalise_message_id(v) for v in values]
    return [f"<{i}>" for i in dict.fromkeys(i for i in ids if i is not None and header_text(i, 998) == i)]


def render_reply(
    plan: ReplyPlan,
    inquiry: Inquiry,
    decision: Decision,
    settings: ReplySettings,
    taxonomy: Taxonomy,
    *,
    now: datetime | None = None,
    env: jinja2.Environment | None = None,
) -> EmailMessage:
    """The reply as a message ready for `send_message(msg, from_addr="")` (null envelope sender, RFC 3834 3.3).

    `now` sets the Date header (the current time when omitted).
    """
    if plan.language not in LANGUAGES:
        raise ValueError(f"no reply templates for language {plan.language!r}")
    if plan.template not in TEMPLATES:
        raise ValueError(f"unknown reply template {plan.template!r}")
    env = env or templates_env()
    context = _context(plan, inquiry, settings, taxonomy)
    subject_name, text_name, html_name = template_names(plan.template, plan.language)
    subject = header_text(env.get_template(subject_name).render(context), SUBJECT_MAX_CHARS + 10)
    text = env.get_template(text_name).render(context)
    html = env.get_template(html_name).render(context)

    # policy.SMTP: CRLF line ends and RFC 2047 encoded-words for the Japanese subject and desk name; it
    # also refuses any header value that still contains CR or LF, a second guard behind header_text.
    msg = EmailMessage(policy=email_policy.SMTP)
    msg["From"] = Address(display_name=header_text(settings.from_name[plan.language], NAME_MAX_CHARS),
                          addr_spec=settings.from_address)
    msg["To"] = Address(addr_spec=header_text(plan.to, 254))
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = reply_message_id(decision.key, settings.our_domain)
    inbound = _message_ids((inquiry.message_id,))
    if inbound:
        msg["In-Reply-To"] = inbound[0]
    # RFC 5322 section 3.6.4: the parent's References plus its Message-ID; when long, keep the root and
    # the most recent ids so threading still works.
    references = _message_ids((*inquiry.references, inquiry.message_id))
    if len(references) > REFERENCES_MAX:
        references = [references[0], *references[-(REFERENCES_MAX - 1):]]
    if references:
        msg["References"] = " ".join(references)
    msg["Auto-Submitted"] = "auto-replied"  # RFC 3834 section 5
    msg["X-Auto-Response-Suppress"] = "All"  # [MS-OXCMAIL] 2.2.3.2.20: no Exchange out-of-office back
    msg["Precedence"] = "bulk"  # de-facto: older vacation programs stay silent
    msg[settings.loop_header] = settings.our_domain
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg
