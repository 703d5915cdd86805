"""The IMAP adapter the poller and workers share, against a real Dovecot: answers are matched by UID."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.router import router_env
from worker.adapters.imap import REPLIED_KEYWORD, Mailbox
from worker.devstack import DevStack, StackInfo
from worker.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def mailbox(stack: DevStack, sandbox: StackInfo) -> Iterator[Mailbox]:
    connected = Mailbox.connect(Settings.from_env(router_env(stack, sandbox)).imap)
    yield connected
    connected.logout()


def test_it_never_takes_another_messages_flag_change_for_ours(
    stack: DevStack, sandbox: StackInfo, mailbox: Mailbox,
) -> None:
    for n in range(3):
        stack.append(f"Subject: {n}\r\nMessage-ID: <flags-{n}@customer.example>\r\n\r\nhi\r\n".encode(),
                     user=sandbox.imap_user)
    mailbox.select("INBOX")
    with stack.imap(sandbox.imap_user) as other:
        other.select_folder("INBOX")
        other.delete_messages([1])
        other.uid_expunge([1])
        mailbox.client.noop()  # our session learns the expunge: UID 2 is now message 1, UID 3 message 2
        other.add_flags([3], [REPLIED_KEYWORD])  # another session answers UID 3, i.e. message 2

    # The server reports that change to us unsolicited, as "* 2 FETCH (FLAGS ...)", without a UID.
    assert REPLIED_KEYWORD not in mailbox.flags("INBOX", 2)
    assert REPLIED_KEYWORD in mailbox.flags("INBOX", 3)


def test_it_reports_a_moved_message_as_gone(stack: DevStack, sandbox: StackInfo, mailbox: Mailbox) -> None:
    stack.append(b"Subject: x\r\nMessage-ID: <gone-1@customer.example>\r\n\r\nhi\r\n", user=sandbox.imap_user)
    mailbox.select("INBOX")
    mailbox.move("INBOX", 1, "Queues/Product")
    assert (mailbox.sizes("INBOX", [1]), mailbox.fetch("INBOX", 1), mailbox.flags("INBOX", 1)) == ({}, None, ())
    mailbox.move("INBOX", 1, "Queues/Product")  # a repeated MOVE of a gone UID is harmless
    assert stack.folder_counts(user=sandbox.imap_user).get("Queues/Product") == 1
