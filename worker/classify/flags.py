"""Flags that change handling, by rules: `managed_xdr` (the scope table does not apply) and `preview`.

Rules rather than a model: the flags are rare (a few dozen examples) and hinge on a few words whose
sense a bag of n-grams cannot tell apart ("we use Managed XDR" vs "we are evaluating Managed XDR";
a "(Preview)" menu label vs Outlook's preview pane). `make train` measures them on the labelled data.
"""

from __future__ import annotations

import re

from worker.mail.text import normalise

MANAGED_XDR = "managed_xdr"
PREVIEW = "preview"

# Bare "MDR" is also the generic market term ("XDR vs EDR vs MDR"); it counts only as a service name.
_MANAGED = re.compile(
    r"managed[ -]?xdr|(?<![a-z])mxdr(?![a-z])|マネージドxdr|(?<![a-z])mdr ?(service|customer|subscriber|team|contract|サービス|チーム|契約)",
    re.I,
)
# Any mention, the bare market term included, can still say the customer lacks the service.
_MANAGED_ANY = re.compile(r"managed[ -]?xdr|(?<![a-z])mxdr(?![a-z])|(?<![a-z])mdr(?![a-z])|マネージドxdr", re.I)
# A mention with one of these nearby says the customer does not (yet) have the service.
_MANAGED_NEGATION_BEFORE = re.compile(
    r"(do not|don't|dont|does not|doesn't|not|no|without|evaluat\w*|consider\w*|thinking about|plan\w* to|"
    r"before|trial of|interested in|quote for|former|previous|ex-|used to)\b[^.!?。\n]{0,30}$",
    re.I,
)
_MANAGED_NEGATION_AFTER = re.compile(
    r"^[)\]）」』]?\s*(サービス)?\s*(の|は|を|が)?\s*(ご?契約|導入|利用|加入)?(は|を|も)?(して|し|あり)?(い|おり|お)?(ない|ません|なく|ておらず|検討)"
    r"|^[^.!?。\n]{0,15}(検討|未契約|契約前|導入前|トライアル|提案を受け|見積|解約|終了|なし|した場合|する場合)"
    r"|^[^.!?。\n]{0,40}(未契約|解約)"
    r"|^[^.!?。\n]{0,25}\b(trial|evaluation|not yet|proposal|quote|ended|expired|cancell?ed|terminated)\b",
    re.I,
)

# "Preview" as the console's label for a trial feature: "(Preview)", "Preview機能", "marked Preview".
# Lower-case "preview" (print preview, preview pane), "プレビューウィンドウ" and "プレビュー版" (a draft report,
# Windows Insider Preview) are other senses.
_PREVIEW = re.compile(
    r"\(\s*preview\s*\)|\[\s*preview\s*\]|「\s*\(?preview\)?\s*」|[\"']preview[\"'] ?(label|tag|mark)"
    r"|\bpreview ?(機能|版|表記|表示の|と表示|と記載|と書|と付|feature|api|endpoint|app|menu|label|model|機能)"
    r"|(marked|tagged|labell?ed|labeled) (as )?[\"']?\(?preview|プレビュー機能",
    re.I,
)
_PREVIEW_OTHER_SENSE = re.compile(r"print preview|insider preview|preview (pane|window)|印刷プレビュー|プレビュー(ウィンドウ|ペイン|画面)")


def detect_flags(subject: str, text: str) -> tuple[str, ...]:
    """Flags for a mail's subject and new text, in a fixed order."""
    whole = normalise(subject) + "\n" + normalise(text)
    flags = []
    if has_managed_xdr(whole):
        flags.append(MANAGED_XDR)
    if has_preview(whole):
        flags.append(PREVIEW)
    return tuple(flags)


def has_managed_xdr(text: str) -> bool:
    """Some mention says the customer has Managed XDR and none says they do not (yet)."""
    for match in _MANAGED_ANY.finditer(text):
        before = text[max(0, match.start() - 40) : match.start()]
        after = text[match.end() : match.end() + 30]
        if _MANAGED_NEGATION_BEFORE.search(before) or _MANAGED_NEGATION_AFTER.search(after):
            return False
    return _MANAGED.search(text) is not None


def has_preview(text: str) -> bool:
    for match in _PREVIEW.finditer(text):
        # Case matters: the console writes the label "Preview"; "preview" alone is usually the verb.
        word = re.search(r"preview|プレビュー", match.group(0), re.I)
        if word and word.group(0) == "preview" and not match.group(0).startswith("("):
            continue
        window = text[max(0, match.start() - 10) : match.end() + 10]
        if _PREVIEW_OTHER_SENSE.search(window):
            continue
        return True
    return False
