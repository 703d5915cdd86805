"""Turn an HTML mail body into the plain text a reader sees: paragraphs and list items kept, no script or style.

The text feeds classification and quoting only; HTML is never rendered here (mail-safety F), so a
forgiving stdlib parser is enough and nothing from the markup can execute.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

# Elements whose content is never visible text (script/style/head) or is markup metadata.
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript", "xml", "o:p"})
# Elements that start a new line; block-level in HTML's rendering model.
_BLOCKS = frozenset(
    {
        "p", "div", "tr", "table", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "pre", "section", "article", "header", "footer", "address", "hr", "form", "center",
    }
)  # fmt: skip
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "pre"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden_depth = 0
        self.pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden_depth += 1
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag in _BLOCKS:
            self.parts.append("\n\n" if tag in _PARAGRAPHS else "\n")
        if tag == "pre":
            self.pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
            return
        if tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
        if tag in _BLOCKS:
            self.parts.append("\n\n" if tag in _PARAGRAPHS else "\n")

    def handle_data(self, data: str) -> None:
        if self.hidden_depth:
            return
        if self.pre_depth:
            self.parts.append(data)
        else:
            # Source line breaks in HTML are spaces (HTML Living Standard, whitespace collapsing).
            self.parts.append(re.sub(r"[ \t\r\n\f]+", " ", data))


_COMMENTS = re.compile(r"<!--.*?-->", re.S)
_SPACES_AROUND_NEWLINE = re.compile(r"[ \t]*\n[ \t]*")
_BLANK_RUNS = re.compile(r"\n{3,}")


_CHUNK = 64 * 1024


def html_to_text(html: str, check: Callable[[], None] | None = None) -> str:
    """The visible text of an HTML document, one line per block and a blank line between paragraphs.

    `check` is called between 64 kB slices so a caller's time limit also covers huge HTML parts.
    """
    # Conditional comments from Outlook hold styles; dropping all comments first is also faster.
    html = _COMMENTS.sub("", html)
    extractor = _TextExtractor()
    for start in range(0, len(html), _CHUNK):
        extractor.feed(html[start : start + _CHUNK])
        if check is not None:
            check()
    extractor.close()
    text = "".join(extractor.parts).replace("\xa0", " ")
    text = _SPACES_AROUND_NEWLINE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()
