"""HTML bodies become the text a reader sees, and a caller's time limit reaches into the conversion."""

from __future__ import annotations

import pytest

from worker.mail.html import html_to_text


def test_it_keeps_table_cells_apart_and_drops_comments_and_head() -> None:
    html = "<html><head><title>T</title></head><body><!--[if mso]>x<![endif]--><table><tr><td>a</td><td>b</td></tr></table></body></html>"
    assert html_to_text(html) == "a b"


def test_it_keeps_line_breaks_in_preformatted_text_only() -> None:
    assert html_to_text("<pre>line 1\nline 2</pre>") == "line 1\nline 2"
    assert html_to_text("<p>line 1\nline 2</p>") == "line 1 line 2"


def test_it_calls_the_check_between_slices_of_a_large_document() -> None:
    calls: list[int] = []
    html_to_text("<p>" + "x" * 200_000 + "</p>", lambda: calls.append(1))
    assert len(calls) == 4  # 200 kB in 64 kB slices


def test_it_stops_when_the_check_raises() -> None:
    def over_time() -> None:
        raise TimeoutError("over time")

    with pytest.raises(TimeoutError):
        html_to_text("<p>words</p>", over_time)
