"""Text helpers shared by parsing and classification: normalisation, the customer's new text, language, business ID.

Every function takes a plain string, so the classifier's training code can use them on bodies that
never were mail.
"""

from __future__ import annotations

import re
import unicodedata

_HORIZONTAL_SPACE = re.compile(r"[ \t\u3000\u00a0\u200b\ufeff]+")
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200d\u2060\ufeff]")


def normalise(text: str) -> str:
    """NFKC (full-width ＡＰＩ -> API, half-width katakana -> full-width) and tidy whitespace.

    Line breaks are kept (paragraphs carry meaning for quoting and evidence); runs of spaces collapse,
    trailing spaces go, and more than one blank line becomes one.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _HORIZONTAL_SPACE.sub(" ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# Lines that start an earlier mail. Everything from them on is quoted history.
_QUOTE_HEADERS = [
    re.compile(p, re.I)
    for p in (
        r"^-{3,} ?(original message|元のメッセージ|オリジナル メッセージ|original mail|転送メッセージ) ?-{3,}$",
        r"^-{5,} ?forwarded message ?-{5,}$",
        r"^-{3,} ?(begin )?forwarded message:? ?-{0,}$",
        r"^begin forwarded message:$",
        r"^on .{4,200} wrote:$",
        # Attributions carry a date or an address; "what my colleague wrote:" is the customer's own line.
        r"^(?=.*[\d@]).{0,120}(wrote|schrieb|a écrit|escribió) ?:$",
        r"^(?=.*[\d@]).{0,150}(のメッセージ|さんは書きました|さんが書きました|書きました|wrote)[:：]$",
        r"^20\d\d[/年].{0,80}[^\s]+@[^\s]+.{0,10}[:：]$",
        r"^_{10,}$",
    )
]
_FORWARD_START = re.compile(
    r"^-{3,} ?(forwarded message|begin forwarded message:?|returned message|転送メッセージ|転送されたメッセージ) ?-{0,}$",
    re.I,
)
# The header lines a forward marker is followed by ("From: …", "件名: …"), up to the first blank line.
_FORWARD_FIELD = re.compile(r"^\*?[\w -]{1,20}\*? ?[:：]")
# A covering note this short ("下記のアラートをご確認ください", "FYI, see below") says nothing the
# classifier can use; the forwarded mail is the inquiry, so its own new text is added.
COVERING_NOTE_CHARS = 60
_FORWARD_CLOSE = re.compile(r"^-{5,15}$")
_SENTENCE_END = re.compile(r"[。?？]|\w\.(\s|$)")
_OUTLOOK_FIELD = re.compile(
    r"^\*?(from|sent|date|to|cc|subject|von|gesendet|datum|an|betreff|差出人|送信者|送信日時|日付|宛先|件名)\*? ?[:：]",
    re.I,
)
_OUTLOOK_START = re.compile(r"^\*?(from|von|sent|gesendet|差出人|送信者|送信日時)\*? ?[:：]", re.I)
_SIGNATURE_SEPARATOR = re.compile(r"^(-- ?|--|[-=*_~#+]{8,}|[\u2500-\u257f\u25a0-\u25ff]{5,}|[-=*_~ ]{10,})$")
_SENT_FROM = re.compile(
    r"^(sent from my \w+|sent from (mail|outlook|yahoo)|get outlook for \w+|iphoneから送信|ipadから送信|androidから送信|"
    r"my iphoneから送信)",
    re.I,
)
_DISCLAIMER = re.compile(
    r"(confidentiality notice|this (e-?mail|message)( and any attachments?)? (is|are|may be) (confidential|intended)|"
    r"if you (are not|have received) (the intended recipient|this (e-?mail|message) in error)|"
    r"disclaimer:|本(電子)?メール(および添付ファイル)?は.{0,30}(機密|秘密)|このメールは.{0,40}(宛先|誤って|機密|秘密)|"
    r"誤って(本|この)?メールを受信|お心当たりのない場合)",
    re.I,
)
# A signature block sits at the end; a separator further up than this is the customer's own layout.
_SIGNATURE_WINDOW = 15


def new_text(body: str) -> str:
    """The part of a body the customer wrote this time: quoted mails, signatures and disclaimers removed.

    When the customer forwards a mail with no more than a covering note, the forwarded mail is what
    they ask about (a forwarded alert): its own new text follows the note.
    """
    lines = normalise(body).split("\n")
    own = _own_text(lines)
    if len(re.sub(r"\s", "", own)) < COVERING_NOTE_CHARS:
        forwarded = _forwarded_lines(lines)
        if forwarded:
            own = (own + "\n\n" + new_text("\n".join(forwarded))).strip()
    return own


def _forwarded_lines(lines: list[str]) -> list[str]:
    """The body of the first forwarded mail (after its marker and header lines), or []."""
    for index, line in enumerate(lines):
        if _FORWARD_START.match(line.strip()) or line.strip().lower() == "begin forwarded message:":
            rest = index + 1
            while rest < len(lines) and _FORWARD_FIELD.match(lines[rest].strip()):
                rest += 1
            end = _forward_end(lines, rest)
            # A closed block: the customer's question below the dashed line is already their own text.
            return lines[rest:end] if end is not None else lines[rest:]
    return []


def _own_text(lines: list[str]) -> str:
    lines = _before_quoted_mail(lines)
    lines = [line for line in lines if not line.startswith(">")]
    lines = _before_signature(lines)
    lines = _before_disclaimer(lines)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _before_quoted_mail(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        stripped = line.strip()
        if _FORWARD_START.match(stripped):
            # Even as the first line: a bare forward has no text of the customer's own (see new_text).
            end = _forward_end(lines, index + 1)
            if end is not None:
                # A forward closed by a dashed line, with the customer's question below it:
                # drop only the forwarded block.
                return lines[:index] + _before_quoted_mail(lines[end + 1 :])
            return lines[:index]
        if index > 0 and any(p.match(stripped) for p in _QUOTE_HEADERS):
            return lines[:index]
        if (
            index + 1 < len(lines)
            and stripped.lower().startswith("on ")
            and lines[index + 1].strip().endswith("wrote:")
        ):
            # Gmail wraps a long "On <date> <name> wrote:" over two lines.
            return lines[:index]
        if _OUTLOOK_START.match(stripped) and _is_outlook_block(lines[index : index + 6]):
            return lines[:index]
    return lines


def _forward_end(lines: list[str], start: int) -> int | None:
    """The dashed line that closes a forwarded block, when real text follows it."""
    for index in range(start, len(lines)):
        if _FORWARD_CLOSE.match(lines[index].strip()):
            # Only a question or sentence below it counts: a forwarded mail's own signature block
            # between dashed lines must not leak into the new text.
            rest = "\n".join(lines[index + 1 :])
            return index if _SENTENCE_END.search(rest) else None
    return None


def _is_outlook_block(lines: list[str]) -> bool:
    """Outlook's quoted-header block: From/差出人 followed by at least two more header-like fields."""
    return sum(1 for line in lines if _OUTLOOK_FIELD.match(line.strip())) >= 3


def _before_signature(lines: list[str]) -> list[str]:
    start = max(1, len(lines) - _SIGNATURE_WINDOW)
    for index in range(len(lines)):
        stripped = lines[index].strip()
        if _SENT_FROM.match(stripped):
            # Even as the first line: a mail whose body is only the phone's footer asks in its subject.
            return lines[:index]
        if index >= start and _SIGNATURE_SEPARATOR.match(stripped):
            return lines[:index]
        if stripped in ("--", "-- ") and index > 0:
            return lines[:index]
    return lines


def _before_disclaimer(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if index > 0 and _DISCLAIMER.search(line):
            return lines[:index]
    return lines


_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_WORDS = re.compile(r"[a-zà-ÿ]+")
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "and",
            "is",
            "are",
            "you",
            "to",
            "of",
            "for",
            "please",
            "with",
            "this",
            "that",
            "have",
            "not",
            "can",
            "we",
            "in",
            "it",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "ist",
            "nicht",
            "ich",
            "sie",
            "mit",
            "für",
            "bitte",
            "wir",
            "ein",
            "eine",
            "zu",
            "auf",
            "den",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "et",
            "est",
            "vous",
            "pour",
            "avec",
            "merci",
            "nous",
            "une",
            "des",
            "pas",
            "je",
            "ce",
            "que",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "y",
            "es",
            "usted",
            "para",
            "con",
            "gracias",
            "no",
            "por",
            "una",
            "que",
            "de",
            "se",
        ]
    ),
}


def detect_language(text: str) -> str:
    """'ja' for text with kana, 'zh' for Han without kana, else by script and common words; 'und' if empty."""
    kana = len(_KANA.findall(text))
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    if kana >= 2 or (kana and han):
        return "ja"
    if han >= 2 and han * 2 >= latin / 4:
        return "zh"
    if len(_HANGUL.findall(text)) >= 2:
        return "ko"
    if len(_CYRILLIC.findall(text)) > latin:
        return "ru"
    if not latin:
        return "ja" if han else "und"
    words = _WORDS.findall(text.lower())
    counts = {lang: sum(1 for w in words if w in stop) for lang, stop in _STOPWORDS.items()}
    best = max(counts, key=lambda lang: counts[lang])
    return best if counts[best] > counts["en"] else "en"


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# The label must name the business ID itself: "ビジネスID", "Business ID", "BusinessID", "business-id".
# The value follows a colon, "は", "=" or brackets, possibly on the next line.
_BUSINESS_ID_LABEL = re.compile(r"ビジネス\s?ID|business[\s_-]?id", re.I)
# What may stand between the label and the value: brackets, a parenthesised note, a connector
# (":", "=", "は", "is", "です"), a line break.
_BUSINESS_ID_VALUE = re.compile(
    r"[】」』\]]?\s*(?:\(.{0,20}?\)\s*)?(?:[:=]|は|is\b|です)?\s*(?:は|:)?\s*[\[【「『(\"']?\s*"
    r"([0-9A-Za-z][0-9A-Za-z-]{5,})",
    re.I,
)
_UUID_IN_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_OTHER_ID_LABEL = re.compile(r"\bid\b|(?-i:ID)|番号|No\.", re.I)
# "BID: <uuid>" in a signature: the abbreviation alone is too common a word ("bid"), so it counts only in
# capitals and only with a UUID right after it (bench/heldout.py h1-0225).
_BID_UUID = re.compile(r"(?<![A-Za-z])BID\s*[:=]\s*((?i:" + _UUID_IN_TEXT.pattern + r"))(?![0-9A-Za-z])")
# "ビジネスIDは以下のとおりです。\n<uuid>": a UUID this close after the label, with no other ID label
# in between, is the business ID.
_UUID_REACH = 40


def find_business_id(text: str) -> str | None:
    """The business ID the customer gives (labelled ビジネスID / Business ID), never trace or alert IDs.

    A UUID is returned lower-cased; another token as given. The token must contain a digit, so
    "Business ID: unknown" is no ID.
    """
    normalised = normalise(text)
    for label in _BUSINESS_ID_LABEL.finditer(normalised):
        match = _BUSINESS_ID_VALUE.match(normalised, label.end())
        if match is not None:
            token = match.group(1).strip("-")
            if any(ch.isdigit() for ch in token):
                return token.lower() if _UUID.match(token) else token
        window = normalised[label.end() : label.end() + _UUID_REACH + 36]
        uuid = _UUID_IN_TEXT.search(window)
        if (
            uuid is not None
            and uuid.start() <= _UUID_REACH
            and not _OTHER_ID_LABEL.search(window[: uuid.start()])
        ):
            return uuid.group(0).lower()
    short = _BID_UUID.search(normalised)
    if short is not None:
        return short.group(1).lower()
    return None
