"""The IMAP edge: a small `Mailbox` adapter over imapclient that speaks UIDs, never sequence numbers.

Rules from mail-safety.md section D: fetch with BODY.PEEK[] so nothing is marked \\Seen; MOVE (RFC 6851)
last, with the UIDPLUS fallback UID COPY + UID STORE \\Deleted + UID EXPUNGE of our UID only (RFC 4315),
never a bare EXPUNGE that would remove other clients' deleted mail; create a missing target folder.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import join_message_ids, seq_to_parenstr_upper
from imapclient.response_parser import parse_fetch_response

from worker.oauth import TokenSource
from worker.settings import ImapSettings

# Keyword set on an inbound message once we replied to it: a second, Redis-independent witness
# that the reply went out (RFC 3501 section 2.3.2 keywords; "$" prefix by convention).
REPLIED_KEYWORD = b"$AutoReplied"
# Set on a message just before the UID COPY of the MOVE fallback: after a crash between COPY and
# EXPUNGE it says a copy may already be in the target, so the retry looks before copying twice.
COPIED_KEYWORD = b"$RouterCopied"


class MailboxError(RuntimeError):
    """An IMAP operation failed; the message says which and why."""


@dataclass(frozen=True)
class FolderState:
    uidvalidity: int
    uidnext: int
    exists: int


@dataclass
class _MessageIdIndex:
    """The Message-IDs of one folder as far as `next_uid`, under one UIDVALIDITY."""

    uidvalidity: int
    next_uid: int = 1
    message_ids: set[str] = field(default_factory=set)


class Mailbox:
    """One logged-in IMAP session (plus a side session opened on demand). Create it with
    `Mailbox.connect(settings)`; close both with `logout()`.

    `index_message_ids`: a long-lived session (a worker's) keeps the Message-IDs of the folders it looks
    into, see `contains_message_id`; a short one (a dashboard request) asks the server each time."""

    def __init__(self, client: IMAPClient, settings: ImapSettings, tokens: TokenSource | None = None,
                 index_message_ids: bool = False) -> None:
        self.client = client
        self.settings = settings
        self._tokens = tokens
        self._index_message_ids = index_message_ids
        self._indexes: dict[str, _MessageIdIndex] = {}
        self._selected: str | None = None
        self._selected_state: FolderState | None = None
        # A second session, opened on first use, for looking into other folders (the Sent witness):
        # switching the main session away from INBOX and back cost two SELECTs per reply, and a SELECT
        # of a large INBOX is the most expensive command we send (the server scans it for UNSEEN).
        self._side: IMAPClient | None = None
        self._side_folder: str | None = None  # selected (read-only) on the side session
        self._side_uidvalidity = 0  # of the folder selected there
        # Folders seen to exist on this connection: queue folders are created once and never deleted
        # by us, so asking the server again before every MOVE/APPEND only costs round trips. A folder
        # deleted behind our back fails the command; the task then retries on a new connection.
        self._known_folders: set[str] = set()

    @classmethod
    def connect(cls, settings: ImapSettings, tokens: TokenSource | None = None,
                index_message_ids: bool = False) -> Mailbox:
        """Log in over TLS with verified certificates (plaintext only as the settings allow: loopback or
        explicitly), with the password or, for Microsoft 365 and Gmail, XOAUTH2; every socket call has
        the settings' timeout."""
        return cls(_open_client(settings, tokens), settings, tokens, index_message_ids)

    def logout(self) -> None:
        if self._side is not None:
            _close_quietly(self._side)
            self._side, self._side_folder = None, None
        _close_quietly(self.client)

    # --- reading -----------------------------------------------------------------------------

    def select(self, folder: str) -> FolderState:
        info = self.client.select_folder(folder)
        self._selected = folder
        self._selected_state = FolderState(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info.get(b"UIDNEXT", 0)),
            exists=int(info.get(b"EXISTS", 0)),
        )
        return self._selected_state

    def selected_state(self, folder: str) -> FolderState:
        """The folder's state as this session selected it, selecting it only when another folder is selected.

        The UIDVALIDITY in it holds for as long as the folder stays selected: UIDs must not change during a
        session (RFC 3501 section 2.3.1.1), and a server that has to renumber ends the session instead
        (Dovecot: "IMAP session state is inconsistent"), which fails our next command and the task is
        retried on a new connection. Messages delivered since the SELECT may not be visible yet: see `sync`.
        """
        if self._selected != folder or self._selected_state is None:
            return self.select(folder)
        return self._selected_state

    def sync(self) -> None:
        """NOOP: let the server report what changed since our last command, so that UIDs of messages
        delivered in the meantime become addressable in this session (RFC 3501 section 6.1.2)."""
        self.client.noop()

    def _ensure_selected(self, folder: str) -> None:
        if self._selected != folder:
            self.select(folder)

    def uids(self, folder: str) -> list[int]:
        """Every UID in the folder, ascending. The inbox is the source of truth: what is here is not done."""
        self._ensure_selected(folder)
        return sorted(int(uid) for uid in self.client.search("ALL"))

    def sizes(self, folder: str, uids: Iterable[int]) -> dict[int, int]:
        """RFC822.SIZE per UID, fetched before the body so an oversized mail is never downloaded."""
        wanted = list(uids)
        if not wanted:
            return {}
        self._ensure_selected(folder)
        data = self._fetch_exact(wanted, [b"RFC822.SIZE"])
        return {uid: int(item[b"RFC822.SIZE"]) for uid, item in data.items() if b"RFC822.SIZE" in item}

    def fetch(self, folder: str, uid: int) -> bytes | None:
        """The raw message, or None when it is no longer there (already moved by an earlier attempt)."""
        return self.fetch_all(folder, [uid]).get(uid)

    def fetch_all(self, folder: str, uids: list[int]) -> dict[int, bytes]:
        """The raw messages by UID, in one UID FETCH; a UID that is no longer there is left out."""
        if not uids:
            return {}
        self._ensure_selected(folder)
        data = self._fetch_exact(uids, [b"BODY.PEEK[]"])
        return {uid: bytes(item[b"BODY[]"]) for uid, item in data.items() if b"BODY[]" in item}

    def flags(self, folder: str, uid: int) -> tuple[bytes, ...]:
        self._ensure_selected(folder)
        item = self._fetch_exact([uid], [b"FLAGS"]).get(uid)
        return tuple(item.get(b"FLAGS", ())) if item else ()

    def _fetch_exact(self, uids: list[int], items: list[bytes]) -> dict[int, dict[bytes, Any]]:
        """UID FETCH that keeps only the answers about the requested UIDs.

        Servers report other sessions' flag changes as unsolicited FETCH responses, often without a UID
        (RFC 3501 section 7.4.2). imapclient keys those by sequence number, which can equal the UID we
        asked for: another message's `$AutoReplied` then looked like ours and a customer got no reply
        (fault suite, "SMTP timeout after DATA", 300 mails). Here every answer must name its UID.
        """
        wanted = set(uids)
        return {uid: item for uid, item in _uid_fetch(self.client, join_message_ids(uids), items).items()
                if uid in wanted}

    def contains_message_id(self, folder: str, message_id: str) -> bool:
        """Whether a message with this Message-ID is in the folder (our last check before a resend).

        Looked up on the side session, so the main one keeps its folder (INBOX) selected. A SEARCH HEADER
        makes the server read the Message-ID of every message in the folder: for Sent, which only grows,
        that was 4.4 ms of Dovecot CPU per reply at 2,000 messages, more than all else the server did for
        a routed mail (bench/e2e.py). With an index, only the messages added since the last look are read
        (UID FETCH from the next unseen UID). A message deleted from the folder stays in the index: it
        still says the reply went out, which errs on the side of not answering twice.
        """
        if not self.folder_exists(folder):
            return False
        side = self._side_view(folder)
        if not self._index_message_ids:
            return bool(side.search(["HEADER", "Message-ID", message_id]))
        return _normal_message_id(message_id) in self._updated_index(folder, side)

    def _updated_index(self, folder: str, side: IMAPClient) -> set[str]:
        index = self._indexes.get(folder)
        if index is None or index.uidvalidity != self._side_uidvalidity:
            index = self._indexes[folder] = _MessageIdIndex(self._side_uidvalidity)
        data = _uid_fetch(side, f"{index.next_uid}:*".encode(), [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        for uid, item in data.items():
            header = next((bytes(v) for k, v in item.items() if k.startswith(b"BODY[HEADER")), None)
            # "n:*" names the last message even when its UID is below n (RFC 3501 section 6.4.8); an
            # answer without the header is another session's flag change (section 7.4.2).
            if header is None or uid < index.next_uid:
                continue
            index.message_ids.add(_normal_message_id(header.partition(b":")[2].decode("ascii", "replace")))
            index.next_uid = max(index.next_uid, uid + 1)
        return index.message_ids

    def _side_view(self, folder: str) -> IMAPClient:
        """The side session with `folder` selected read-only and up to date: a SEARCH right after sees
        every message other sessions added until now (an earlier attempt's Sent copy, a half-done MOVE).

        A folder already selected there is brought up to date with NOOP (RFC 3501 section 6.1.2), which
        costs the server far less than examining it again."""
        if self._side is None:
            self._side = _open_client(self.settings, self._tokens)
            self._side_folder = None
        if self._side_folder == folder:
            self._side.noop()
        else:
            self._side_folder = None
            info = self._side.select_folder(folder, readonly=True)
            self._side_folder = folder
            self._side_uidvalidity = int(info[b"UIDVALIDITY"])
        return self._side

    def status(self, folder: str) -> dict[str, int]:
        data = self.client.folder_status(folder, [b"MESSAGES", b"UIDVALIDITY", b"UIDNEXT"])
        return {key.decode().lower(): int(value) for key, value in data.items()}

    # --- writing -----------------------------------------------------------------------------

    def folder_exists(self, folder: str) -> bool:
        if folder in self._known_folders:
            return True
        exists = bool(self.client.folder_exists(folder))
        if exists:
            self._known_folders.add(folder)
        return exists

    def ensure_folder(self, folder: str) -> None:
        if not self.folder_exists(folder):
            try:
                self.client.create_folder(folder)
            except IMAPClientError:
                # Another worker may have created it between our check and CREATE.
                if not self.client.folder_exists(folder):
                    raise
            self._known_folders.add(folder)

    def add_keyword(self, folder: str, uid: int, keyword: bytes) -> None:
        self._ensure_selected(folder)
        self.client.add_flags([uid], [keyword], silent=True)

    def append(self, folder: str, raw: bytes, flags: tuple[bytes, ...] = (b"\\Seen",)) -> None:
        self.ensure_folder(folder)
        self.client.append(folder, raw, flags=flags)

    def move(self, folder: str, uid: int, target: str) -> None:
        """Move one message by UID; see `move_all`."""
        self.move_all(folder, [uid], target)

    def move_all(self, folder: str, uids: list[int], target: str) -> None:
        """Move these messages by UID, in one UID MOVE (RFC 6851 takes a UID set); the target folder is
        created when missing.

        Safe to repeat after a crash at any point: a UID that is gone is a no-op for UID MOVE and
        UID EXPUNGE, and the fallback never copies a message twice (see COPIED_KEYWORD).
        """
        if not uids:
            return
        self.ensure_folder(target)
        self._ensure_selected(folder)
        if self.client.has_capability("MOVE"):
            self.client.move(uids, target)
            return
        # RFC 6851 section 3.3 fallback, one message at a time. UID EXPUNGE (UIDPLUS, RFC 4315) removes
        # only our UID; a bare EXPUNGE would also remove whatever other clients flagged \Deleted.
        if not self.client.has_capability("UIDPLUS"):
            raise MailboxError(
                "server has neither MOVE nor UIDPLUS; refusing a bare EXPUNGE that could remove other mail"
            )
        for uid in uids:
            self._move_by_copy(folder, uid, target)

    def _move_by_copy(self, folder: str, uid: int, target: str) -> None:
        flags = self.flags(folder, uid)
        if not flags and not self._fetch_exact([uid], []):
            return  # already moved by an earlier attempt
        if COPIED_KEYWORD not in flags or not self._copy_exists(folder, uid, target):
            self.client.add_flags([uid], [COPIED_KEYWORD], silent=True)
            self.client.copy([uid], target)
        self.client.add_flags([uid], [b"\\Deleted"], silent=True)
        self.client.uid_expunge([uid])

    def finish_move(self, folder: str, uid: int, target: str) -> None:
        """Complete a move that an earlier attempt may have half done (the ledger says the mail is filed).

        A connection cut during MOVE can leave the message in both folders (Dovecot copies, then expunges);
        moving it again would file it twice, so when the target already holds it only our UID is removed.
        """
        self.ensure_folder(target)
        self._ensure_selected(folder)
        if not self._copy_exists(folder, uid, target):
            self.move(folder, uid, target)
            return
        if not self.client.has_capability("UIDPLUS"):
            raise MailboxError("server lacks UIDPLUS; refusing a bare EXPUNGE that could remove other mail")
        self.client.add_flags([uid], [b"\\Deleted"], silent=True)
        self.client.uid_expunge([uid])

    def _copy_exists(self, folder: str, uid: int, target: str) -> bool:
        """Whether the target already holds this message (same Message-ID): an earlier COPY succeeded."""
        item = self._fetch_exact([uid], [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).get(uid, {})
        header = next((bytes(v) for k, v in item.items() if k.startswith(b"BODY[HEADER")), b"")
        message_id = header.partition(b":")[2].strip().decode("ascii", "replace")
        if not message_id:
            return False  # nothing to recognise it by: copying again is the lesser evil than losing it
        # On the side session, so the main one keeps `folder` selected for the EXPUNGE or MOVE that follows.
        return bool(self._side_view(target).search(["HEADER", "Message-ID", message_id]))

    # --- waiting -----------------------------------------------------------------------------

    @contextmanager
    def idle(self, folder: str) -> Iterator[Any]:
        """IMAP IDLE (RFC 2177) on the folder; yields the client so the caller can `idle_check(timeout)`."""
        self._ensure_selected(folder)
        self.client.idle()
        try:
            yield self.client
        finally:
            self.client.idle_done()

    def supports_idle(self) -> bool:
        return bool(self.client.has_capability("IDLE"))


def _open_client(settings: ImapSettings, tokens: TokenSource | None) -> IMAPClient:
    context = ssl.create_default_context()
    client = IMAPClient(
        settings.host,
        port=settings.port,
        ssl=settings.tls == "ssl",
        ssl_context=context if settings.tls == "ssl" else None,
        timeout=settings.timeout,
    )
    try:
        if settings.tls == "starttls":
            client.starttls(context)
        if settings.oauth is not None:
            source = tokens or TokenSource(settings.oauth, timeout=settings.timeout)
            client.oauth2_login(settings.user, source.access_token())
        else:
            client.login(settings.user, settings.password.reveal())
    except Exception:
        _close_quietly(client)
        raise
    return client


def _uid_fetch(client: IMAPClient, uid_set: bytes, items: list[bytes]) -> dict[int, dict[bytes, Any]]:
    """UID FETCH of a UID set; only answers that name their UID are kept (see `Mailbox._fetch_exact`)."""
    imap = client._imap
    tag = imap._command("UID", "FETCH", uid_set, seq_to_parenstr_upper([b"UID", *items]))
    typ, data = imap._command_complete("FETCH", tag)
    client._checkok("fetch", typ, data)
    typ, data = imap._untagged_response(typ, data, "FETCH")
    out: dict[int, dict[bytes, Any]] = {}
    for item in parse_fetch_response(data, client.normalise_times, False).values():
        uid = item.get(b"UID")
        if isinstance(uid, int):
            out.setdefault(uid, {}).update(item)
    return out


def _normal_message_id(value: str) -> str:
    """A Message-ID as compared here: unfolded, without surrounding space, case-folded (SEARCH HEADER,
    which this replaces, matches case-insensitively)."""
    return "".join(value.split()).lower()


def _close_quietly(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # a dying connection may fail in any way; we are closing it anyway
        with contextlib.suppress(Exception):
            client.shutdown()
