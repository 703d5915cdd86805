"""End-to-end benchmark on a throwaway local stack: throughput against the raw IMAP limit, latency, memory.

- Raw limit: a bare imapclient loop doing the router's IMAP reads and moves (UID FETCH RFC822.SIZE,
  UID FETCH BODY.PEEK[], UID MOVE), with no classification, ledger or reply: once one mail per command, once
  a batch per command as the router does.
- Throughput: N inquiries preloaded in INBOX, real worker and poller processes, until INBOX is empty
  (every mail routed and, when eligible, replied to at the SMTP listener).
- Latency: mails appended one at a time at a steady rate; APPEND done -> reply stored by the SMTP sink.
- Memory: resident set size of each worker process and its pool children.

Printed, never asserted. `BENCH_MAILS` (default 2000), `BENCH_LATENCY_MAILS` (60), `BENCH_RATE` (mails/s, 2),
`BENCH_WORKERS` (worker processes, 1), `BENCH_CONCURRENCY` (pool size each, 2) and `BENCH_BATCH` (mails per
task, and per command in the batched raw loop; 20) change the run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fault.harness import build_mails  # noqa: E402  (mail builder shared with the fault suite)
from tests.integration.router import router_env  # noqa: E402
from worker.devstack import DevStack, StackInfo  # noqa: E402


def _append_all(stack: DevStack, user: str, mails: list[bytes]) -> None:
    with stack.imap(user) as client:
        for raw in mails:
            client.append("INBOX", raw)


def raw_limit(stack: DevStack, count: int, batch: int) -> float:
    """Seconds for a bare loop to SIZE-fetch, body-fetch and MOVE `count` mails, `batch` UIDs per command."""
    info = stack.add_user()
    _append_all(stack, info.imap_user, [raw for _, raw in build_mails(count, "raw")])
    with stack.imap(info.imap_user) as client:
        client.create_folder("Done")
        client.select_folder("INBOX")
        uids = client.search("ALL")
        started = time.perf_counter()
        for start in range(0, len(uids), batch):
            chunk = uids[start:start + batch]
            client.fetch(chunk, [b"RFC822.SIZE"])
            client.fetch(chunk, [b"BODY.PEEK[]"])
            client.move(chunk, "Done")
        return time.perf_counter() - started


def raw_with_witnesses(stack: DevStack, count: int, batch: int) -> float:
    """Seconds for a bare loop to do all the IMAP work the router must do when it answers every mail:
    the batched reads and moves of `raw_limit`, and per reply the witness steps on the server (FETCH the
    mail's FLAGS; on a second session with Sent selected, NOOP and read the Message-ID of what was added
    since, as the router's index does; STORE $AutoReplied; APPEND the copy to Sent)."""
    info = stack.add_user()
    _append_all(stack, info.imap_user, [raw for _, raw in build_mails(count, "witness")])
    reply_body = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + b"x" * 3000 + b"\r\n"
    with stack.imap(info.imap_user) as client, stack.imap(info.imap_user) as side:
        client.create_folder("Done")
        client.create_folder("Sent")
        side.select_folder("Sent", readonly=True)
        client.select_folder("INBOX")
        uids = client.search("ALL")
        sent = 1  # the UID of the next copy in Sent
        started = time.perf_counter()
        for start in range(0, len(uids), batch):
            chunk = uids[start:start + batch]
            client.fetch(chunk, [b"RFC822.SIZE"])
            client.fetch(chunk, [b"BODY.PEEK[]"])
            for uid in chunk:
                reply_id = f"<reply-{uid}@bench.example>"
                client.fetch([uid], [b"FLAGS"])
                side.noop()
                side.fetch([sent], [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                sent += 1
                client.add_flags([uid], [b"$AutoReplied"], silent=True)
                client.append("Sent", f"Message-ID: {reply_id}\r\n".encode() + reply_body, flags=(b"\\Seen",))
            client.move(chunk, "Done")
        return time.perf_counter() - started


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


class Router:
    def __init__(self, stack: DevStack, info: StackInfo, logdir: Path, workers: int, concurrency: int,
                 batch: int) -> None:
        env = router_env(stack, info, ROUTER_LOG_JSON="false", ROUTER_BATCH_SIZE=str(batch))
        self.procs: list[subprocess.Popen[bytes]] = []
        for index in range(workers):
            log = (logdir / f"worker{index}.log").open("ab")
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "worker", "worker", f"--concurrency={concurrency}", f"--hostname=b{index}@%h"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO))
        self.workers = list(self.procs)
        log = (logdir / "poller.log").open("ab")
        self.procs.append(subprocess.Popen([sys.executable, "-m", "worker", "poller"], env=env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO))

    def rss(self) -> list[tuple[str, int]]:
        out = []
        for index, proc in enumerate(self.workers):
            out.append((f"worker{index} main", _rss_kib(proc.pid)))
            out += [(f"worker{index} child {child}", _rss_kib(child)) for child in _children(proc.pid)]
        return out

    def stop(self) -> None:
        from worker.processes import stop_router

        stop_router(self.procs)


def cpu_seconds(stack: DevStack) -> dict[str, float]:
    """CPU time (user + system) so far of each part of the stack, from /proc: the router's worker processes
    with their pool children, its poller, the stack's Dovecot and Redis, and this bench process (the
    SMTP sink and the watcher). Processes that have exited are not counted."""
    tick = os.sysconf("SC_CLK_TCK")
    dovecot = f"devstack-{stack.workdir.name}"
    out: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if "-m worker worker" in command:
            part = "worker processes"
        elif "-m worker poller" in command:
            part = "poller"
        elif dovecot in command:
            part = "Dovecot"
        elif "redis-server" in command and f":{stack.redis_port}" in command:
            part = "Redis"
        elif int(entry.name) == os.getpid():
            part = "SMTP sink and watcher (this bench)"
        else:
            continue
        out[part] = out.get(part, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def throughput(stack: DevStack, count: int, workers: int, concurrency: int, batch: int,
               logdir: Path) -> tuple[float, float, int, dict[str, float]]:
    """(seconds from start to empty INBOX, seconds from the first routed mail, replies, CPU milliseconds per
    mail routed after the first, by part of the stack) for `count` mails."""
    info = stack.sandbox()
    stack.clear_messages()
    _append_all(stack, info.imap_user, [raw for _, raw in build_mails(count, "bench")])
    router = Router(stack, info, logdir, workers, concurrency, batch)
    try:
        # One watching session asked for STATUS every 50 ms: a login per look made the watcher itself cost
        # a tenth of a core in logins and new Dovecot processes, taken from the router it measures.
        with stack.imap(info.imap_user) as watcher:
            started = time.perf_counter()
            first = None
            cpu_at_first: dict[str, float] = {}
            left_at_first = count
            while True:
                left = int(watcher.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])
                now = time.perf_counter()
                if first is None and left < count:
                    first, cpu_at_first, left_at_first = now, cpu_seconds(stack), left
                if left == 0:
                    break
                if now - started > 1800:
                    raise SystemExit(f"bench: {left} mails still in INBOX after 30 minutes; see {logdir}")
                time.sleep(0.05)
        done = time.perf_counter()
        cpu = {part: seconds - cpu_at_first.get(part, 0.0) for part, seconds in cpu_seconds(stack).items()}
        per_mail = {part: 1000 * seconds / max(1, left_at_first)
                    for part, seconds in sorted(cpu.items(), key=lambda item: -item[1])}
        return done - started, done - (first or started), len(stack.messages()), per_mail
    finally:
        router.stop()


def latency(stack: DevStack, count: int, rate: float, workers: int, concurrency: int, batch: int,
            logdir: Path) -> tuple[list[float], list[tuple[str, int]]]:
    """APPEND -> reply latencies (seconds) at `rate` mails/s, and the workers' RSS after the run."""
    info = stack.sandbox()
    stack.clear_messages()
    router = Router(stack, info, logdir, workers, concurrency, batch)
    spool = stack.workdir / "smtp"
    mails = build_mails(count, "latency")
    appended: dict[str, float] = {}
    arrived: dict[str, float] = {}
    try:
        # Warm up: one mail routed end to end, so process start-up and model loading are not measured.
        warm = build_mails(1, "warmup")
        _append_all(stack, info.imap_user, [warm[0][1]])
        deadline = time.monotonic() + 120
        while stack.folder_count("INBOX", info.imap_user) and time.monotonic() < deadline:
            time.sleep(0.1)
        seen: set[Path] = set(spool.glob("*.json"))
        with stack.imap(info.imap_user) as client:
            next_at = time.perf_counter()
            index = 0
            while index < len(mails) or (len(arrived) < len(appended) and time.perf_counter() < next_at + 10):
                now = time.perf_counter()
                if index < len(mails) and now >= next_at:
                    message_id, raw = mails[index]
                    client.append("INBOX", raw)
                    appended[message_id] = time.perf_counter()
                    index += 1
                    next_at += 1.0 / rate
                for meta in set(spool.glob("*.json")) - seen:
                    seen.add(meta)
                    header = BytesHeaderParser(policy=compat32).parsebytes(meta.with_suffix(".eml").read_bytes())
                    arrived.setdefault(str(header.get("In-Reply-To", "")).strip(), time.perf_counter())
                time.sleep(0.002)
        rss = router.rss()
    finally:
        router.stop()
    return [arrived[m] - appended[m] for m in appended if m in arrived], rss


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def main() -> int:
    count = int(os.environ.get("BENCH_MAILS", "2000"))
    latency_count = int(os.environ.get("BENCH_LATENCY_MAILS", "60"))
    rate = float(os.environ.get("BENCH_RATE", "2"))
    workers = int(os.environ.get("BENCH_WORKERS", "1"))
    concurrency = int(os.environ.get("BENCH_CONCURRENCY", "2"))
    batch = int(os.environ.get("BENCH_BATCH", "20"))
    logdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    with DevStack(own_redis=True) as stack:
        single_seconds = raw_limit(stack, count, 1)
        batch_seconds = raw_limit(stack, count, batch)
        witness_seconds = raw_with_witnesses(stack, count, batch)
        total, steady, replies, cpu = throughput(stack, count, workers, concurrency, batch, logdir)
        latencies, rss = latency(stack, latency_count, rate, workers, concurrency, batch, logdir)
    print(f"cores: {os.cpu_count()}; workers: {workers} x concurrency {concurrency}; batch {batch}; logs in {logdir}")
    for label, seconds in (("one mail per command", single_seconds), (f"{batch} mails per command", batch_seconds)):
        print(f"raw imapclient loop (SIZE + BODY.PEEK[] + MOVE), {label}: {count} mails in {seconds:.1f} s = "
              f"{count / seconds:.0f} mails/s")
    print(f"raw imapclient loop, batched, plus each reply's witness steps (flags, Sent index, keyword, Sent copy): "
          f"{count} mails in {witness_seconds:.1f} s = {count / witness_seconds:.0f} mails/s")
    print(f"router: {count} mails routed ({replies} replies) in {total:.1f} s from process start = "
          f"{count / total:.0f} mails/s; {steady:.1f} s from the first routed mail = {count / steady:.0f} mails/s; "
          f"{steady / single_seconds:.1f}x the one-mail raw loop's time, {steady / batch_seconds:.1f}x the batched one's, "
          f"{steady / witness_seconds:.1f}x the one with witnesses")
    cores = os.cpu_count() or 1
    print(f"CPU per routed mail: {sum(cpu.values()):.1f} ms in all (at most {1000 * cores / sum(cpu.values()):.0f} "
          f"mails/s on {cores} cores if nothing else ran): "
          + ", ".join(f"{part} {ms:.1f} ms" for part, ms in cpu.items()))
    if latencies:
        print(f"latency APPEND -> reply at the SMTP listener, {len(latencies)} mails at {rate:g}/s: "
              f"p50 {percentile(latencies, 0.5):.3f} s, p99 {percentile(latencies, 0.99):.3f} s, "
              f"max {max(latencies):.3f} s, mean {statistics.mean(latencies):.3f} s")
    missing = latency_count - len(latencies)
    if missing:
        print(f"  ({missing} latency mails got no reply: not reply-eligible, e.g. bounces and auto-replies)")
    for name, kib in rss:
        print(f"RSS {name}: {kib / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
