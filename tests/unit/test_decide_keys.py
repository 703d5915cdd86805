"""Stable keys: an inbound mail's identity, our reply's Message-ID, and the case a mail belongs to."""

from __future__ import annotations

from dataclasses import replace

from tests.fixtures.mailers import plain_mail
from worker.mail.parse import parse
from worker.route import keys


def test_it_keys_a_mail_by_its_message_id_across_redeliveries() -> None:
    first = parse(plain_mail("Question", extra_headers=[("Received", "from a by b; Wed, 25 Nov 2026 10:00:00 +0900")]))
    again = parse(plain_mail("Question", extra_headers=[("Received", "from c by d; Wed, 25 Nov 2026 11:00:00 +0900")]))
    assert keys.message_key(first, "aa" * 32) == keys.message_key(again, "bb" * 32)
    assert keys.message_key(first, "aa" * 32).startswith("mid-")


def test_it_keys_a_mail_without_message_id_by_its_bytes() -> None:
    mail_ = replace(parse(plain_mail("Question")), message_id=None)
    assert keys.message_key(mail_, "AB" * 32) == "raw-" + ("ab" * 20)


def test_it_keeps_the_content_digest_stable_when_only_trace_headers_change() -> None:
    first = parse(plain_mail("Question", extra_headers=[("Received", "from a by b")]))
    again = parse(plain_mail("Question", extra_headers=[("Received", "from c by d")]))
    other = parse(plain_mail("Another question"))
    assert keys.content_digest(first) == keys.content_digest(again) != keys.content_digest(other)


def test_it_derives_a_deterministic_reply_message_id_on_our_domain() -> None:
    reply_id = keys.reply_message_id("mid-0123abcd", "example.com")
    assert reply_id == keys.reply_message_id("mid-0123abcd", "example.com") == "<reply.mid-0123abcd@example.com>"
    assert keys.reply_message_id("mid-<x>\r\n", "example.com") == "<reply.mid-x@example.com>"


def test_it_finds_the_case_from_the_root_of_references() -> None:
    root = parse(plain_mail("Question", message_id="<root@example.co.jp>"))
    follow_up = replace(root, message_id="<second@example.co.jp>", in_reply_to="<reply.mid-1@example.com>",
                        references=("<root@example.co.jp>", "<reply.mid-1@example.com>"))
    assert keys.thread_key(follow_up) == keys.thread_key(root)
    only_in_reply_to = replace(root, message_id="<third@example.co.jp>", in_reply_to="<root@example.co.jp>",
                               references=())
    assert keys.thread_key(only_in_reply_to) == keys.thread_key(root)


def test_it_lists_every_case_a_reply_might_belong_to() -> None:
    mail_ = replace(parse(plain_mail("Thanks")), in_reply_to="<reply.mid-1@example.com>", references=())
    assert keys.id_thread_key("<reply.mid-1@example.com>") in keys.related_thread_keys(mail_)
