"""The local service stack behaves like the real services the router meets: Dovecot, Redis and an SMTP relay."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from imapclient.exceptions import CapabilityError

from worker.devstack import RUNTIME_DIR, DevStack, StackInfo, read_spool, reap_stale

pytestmark = pytest.mark.integration


def iso_2022_jp_inquiry() -> bytes:
    """Built the way Japanese mailers send it: ISO-2022-JP body and RFC 2047 encoded subject, 7bit."""
    msg = EmailMessage()
    msg["From"] = "山田 太郎 <yamada@customer.example>"
    msg["To"] = "support@example.test"
    msg["Subject"] = "ライセンスの更新について"
    msg.set_content("お世話になっております。\n事業者IDはまだ分かりません。\n", charset="iso-2022-jp")
    return msg.as_bytes(policy=policy.SMTP)


def group_members(pgid: int) -> list[str]:
    """Live members of a process group as pgrep sees them; zombies (exited, awaiting PID 1) do not count."""
    result = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True)
    pids = result.stdout.split()
    states = subprocess.run(["ps", "-o", "pid=,stat=", "-p", ",".join(pids)], capture_output=True, text=True)
    return [line.split()[0] for line in states.stdout.splitlines() if not line.split()[1].startswith("Z")] if pids else []


def test_it_appends_and_reads_back_an_iso_2022_jp_mail_byte_for_byte(stack: DevStack, sandbox: StackInfo) -> None:
    raw = iso_2022_jp_inquiry()
    assert b"\x1b$B" in raw  # really ISO-2022-JP on the wire, not UTF-8

    stack.append(raw, user=sandbox.imap_user)

    stored = stack.list_folder("INBOX", user=sandbox.imap_user)
    assert stored == [raw]
    parsed = message_from_bytes(stored[0], policy=policy.default)
    assert parsed["Subject"] == "ライセンスの更新について"
    assert "事業者ID" in parsed.get_content()


def test_it_gives_each_test_an_empty_mailbox(stack: DevStack, sandbox: StackInfo) -> None:
    assert stack.folder_counts(user=sandbox.imap_user) == {"INBOX": 0}


def test_it_creates_nested_queue_folders_with_a_slash_separator(stack: DevStack, sandbox: StackInfo) -> None:
    stack.create_folder("Queues/Product", user=sandbox.imap_user)
    stack.append(b"Subject: filed\r\n\r\nx\r\n", folder="Queues/Review", user=sandbox.imap_user)

    with stack.imap(sandbox.imap_user) as client:
        assert client.namespace().personal[0][1] == "/"
    counts = stack.folder_counts(user=sandbox.imap_user)
    assert counts == {"INBOX": 0, "Queues/Product": 0, "Queues/Review": 1}


def test_it_moves_a_message_with_imap_move(stack: DevStack, sandbox: StackInfo) -> None:
    stack.append(iso_2022_jp_inquiry(), user=sandbox.imap_user)
    stack.create_folder("Queues/Product", user=sandbox.imap_user)

    with stack.imap(sandbox.imap_user) as client:
        assert b"MOVE" in client.capabilities()
        client.select_folder("INBOX")
        client.move(client.search("ALL"), "Queues/Product")

    assert stack.folder_counts(user=sandbox.imap_user) == {"INBOX": 0, "Queues/Product": 1}


def test_it_stores_every_message_sent_with_smtplib(stack: DevStack, sandbox: StackInfo) -> None:
    reply = EmailMessage()
    reply["From"] = "support@example.test"
    reply["To"] = "yamada@customer.example"
    reply["Subject"] = "Re: ライセンスの更新について"
    reply.set_content("事業者IDをお知らせください。\n")

    with smtplib.SMTP(sandbox.smtp_host, sandbox.smtp_port, timeout=10) as smtp:
        smtp.send_message(reply, from_addr="support@example.test",
                          to_addrs=["yamada@customer.example", "cc@customer.example"])

    [received] = stack.messages()
    assert received.mail_from == "support@example.test"
    assert received.rcpt_tos == ("yamada@customer.example", "cc@customer.example")
    parsed = message_from_bytes(received.raw, policy=policy.default)
    assert parsed["Subject"] == "Re: ライセンスの更新について"
    assert "事業者ID" in parsed.get_content()
    # Stored as files, so another process (the demo, a Celery worker's test) reads the same list.
    assert read_spool(received.path.parent) == [received]


def test_it_gives_each_sandbox_its_own_empty_redis(stack: DevStack, sandbox: StackInfo) -> None:
    client = redis.Redis.from_url(sandbox.redis_url)
    try:
        assert client.ping()
        if stack.owns_redis:  # on a shared REDIS_URL server other runs' keys may exist; ours are prefixed
            assert client.dbsize() == 0
        client.set(f"router:{sandbox.namespace}:probe", "1")
        assert client.get(f"router:{sandbox.namespace}:probe") == b"1"
    finally:
        client.close()

    assert stack.flush_namespace(sandbox) == 1


def test_it_exposes_the_worker_environment(stack: DevStack, sandbox: StackInfo) -> None:
    env = stack.env(sandbox)

    assert env["ROUTER_IMAP_PORT"] == str(sandbox.imap_port)
    assert env["ROUTER_IMAP_USER"] == sandbox.imap_user
    assert env["ROUTER_IMAP_TLS"] == env["ROUTER_SMTP_TLS"] == "none"
    assert env["ROUTER_REDIS_URL"] == sandbox.redis_url
    assert env["ROUTER_IMAP_PASSWORD"] == sandbox.imap_password
    assert sandbox.imap_password not in repr(sandbox)  # a logged StackInfo never shows the password


def test_it_hides_move_when_disabled_so_clients_take_the_uidplus_fallback() -> None:
    with DevStack(disable_move=True, own_redis=True) as stack:
        stack.append(b"Subject: x\r\n\r\nx\r\n")
        with stack.imap() as client:
            capabilities = client.capabilities()
            assert b"MOVE" not in capabilities
            assert b"UIDPLUS" in capabilities
            client.select_folder("INBOX")
            with pytest.raises(CapabilityError):
                client.move(client.search("ALL"), "Queues/Product")


def test_it_leaves_no_process_behind_after_stop() -> None:
    stack = DevStack(own_redis=True).start()
    pids = stack.pids()
    workdir = stack.workdir
    assert len(pids) == 2 and all(group_members(pid) for pid in pids)

    stack.stop()

    assert [group_members(pid) for pid in pids] == [[], []]
    assert not workdir.exists()


def test_it_restarts_its_own_redis_keeping_data_with_aof() -> None:
    with DevStack(own_redis=True, redis_appendonly=True) as stack:
        client = redis.Redis.from_url(stack.redis_url)
        client.set("kept", "yes")
        client.close()
        old_pid = stack.pids()[-1]

        stack.restart_redis()

        assert old_pid not in stack.pids()
        client = redis.Redis.from_url(stack.redis_url)
        assert client.get("kept") == b"yes"
        client.close()


def test_it_reaps_the_servers_of_a_killed_run(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "worker.devstack"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "REDIS_URL": ""}, cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("# workdir"):
            break
    assert any(line.startswith("export ROUTER_IMAP_PORT=") for line in lines), lines
    workdir = Path(lines[-1].split()[2].rstrip(";"))
    pids = [int(p.read_text()) for p in (workdir / "pids").glob("*.pid")]
    assert len(pids) == 2

    proc.send_signal(signal.SIGKILL)  # no atexit, no handler: the servers survive in their own sessions
    proc.wait()
    assert all(group_members(pid) for pid in pids)

    reaped = reap_stale()

    assert sorted(reaped) == sorted(pids)
    assert [group_members(pid) for pid in pids] == [[], []]
    assert not workdir.exists()
    assert RUNTIME_DIR.exists()
