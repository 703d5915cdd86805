"""Reply and forward prefixes are recognised in the forms Western and Japanese mailers write."""

from __future__ import annotations

from worker.mail.subject import base_subject, is_forward, is_reply, reply_prefixes


def test_it_strips_stacked_reply_and_forward_prefixes() -> None:
    assert base_subject("RE: Fw: 転送: ログインについて") == "ログインについて"
    assert reply_prefixes("RE: Fw: 転送: ログインについて") == ("re", "fw", "転送")


def test_it_knows_a_reply_from_a_forward() -> None:
    assert is_reply("Re[2]: question") and not is_forward("Re[2]: question")
    assert is_forward("転送:アラート") and not is_reply("転送:アラート")
    assert is_reply("返信：検知について")


def test_it_leaves_a_subject_without_prefixes_alone() -> None:
    assert base_subject("Regarding the alert") == "Regarding the alert"
    assert reply_prefixes("Regarding the alert") == ()
