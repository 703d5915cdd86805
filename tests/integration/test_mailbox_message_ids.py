"""The Sent-folder witness: a worker's session keeps an index of the Message-IDs in Sent and must still see
every reply that any session appended up to the moment it asks (issue 6; mail-safety.md E)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.router import router_env
from worker.adapters.imap import Mailbox
from worker.devstack import DevStack, StackInfo
from worker.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(params=[True, False], ids=["indexed", "searched"])
def mailbox(request: pytest.FixtureRequest, stack: DevStack, sandbox: StackInfo) -> Iterator[Mailbox]:
    settings = Settings.from_env(router_env(stack, sandbox))
    connected = Mailbox.connect(settings.imap, index_message_ids=request.param)
    connected.ensure_folder("Sent")
    yield connected
    connected.logout()


def sent_copy(message_id: str, header: str = "Message-ID") -> bytes:
    return f"{header}: {message_id}\r\nSubject: Re: question\r\n\r\nour reply\r\n".encode()


def test_it_sees_a_reply_another_session_appended_after_it_last_looked(
    stack: DevStack, sandbox: StackInfo, mailbox: Mailbox,
) -> None:
    assert not mailbox.contains_message_id("Sent", "<reply.k1@example.com>")  # empty Sent
    stack.append(sent_copy("<reply.k1@example.com>"), folder="Sent", user=sandbox.imap_user)
    assert mailbox.contains_message_id("Sent", "<reply.k1@example.com>")
    assert not mailbox.contains_message_id("Sent", "<reply.k2@example.com>")
    stack.append(sent_copy("<reply.k2@example.com>"), folder="Sent", user=sandbox.imap_user)
    stack.append(sent_copy("<reply.k3@example.com>"), folder="Sent", user=sandbox.imap_user)
    assert mailbox.contains_message_id("Sent", "<reply.k2@example.com>")
    assert mailbox.contains_message_id("Sent", "<reply.k3@example.com>")
    assert mailbox.contains_message_id("Sent", "<reply.k1@example.com>")


def test_it_matches_a_folded_header_of_another_case_like_search_does(
    stack: DevStack, sandbox: StackInfo, mailbox: Mailbox,
) -> None:
    stack.append(sent_copy("\r\n <Reply.K4@Example.com>", header="Message-Id"), folder="Sent", user=sandbox.imap_user)
    assert mailbox.contains_message_id("Sent", "<reply.k4@example.com>")


def test_it_sees_the_replies_of_this_session_after_looking_into_another_folder(
    stack: DevStack, sandbox: StackInfo, mailbox: Mailbox,
) -> None:
    stack.append(sent_copy("<reply.k5@example.com>"), folder="Sent", user=sandbox.imap_user)
    assert mailbox.contains_message_id("Sent", "<reply.k5@example.com>")
    mailbox.ensure_folder("Queues/Product")
    assert not mailbox.contains_message_id("Queues/Product", "<reply.k5@example.com>")
    mailbox.append("Sent", sent_copy("<reply.k6@example.com>"))
    assert mailbox.contains_message_id("Sent", "<reply.k6@example.com>")
    assert not mailbox.contains_message_id("Sent", "<reply.k7@example.com>")
