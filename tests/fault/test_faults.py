"""Every mail exactly once, through crashes: real worker and poller processes, one fault injected mid-run.

After each scenario every mail is in exactly one queue folder, each reply-eligible mail got exactly one
reply at the SMTP listener (counted by In-Reply-To), INBOX is empty and nothing was lost
(issue 6; mail-safety.md sections D, E and G). ROUTER_FAULT_MAILS sets the mails per scenario.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from tests.fault.harness import (
    FaultRun,
    Outcome,
    build_mails,
    restart_dovecot,
    sanitize,
    uid_validity_bump,
    with_expectations,
)
from tests.fault.proxy import CutRule, FaultProxy
from tests.fault.smtp_faults import FaultySink
from tests.integration.router import router_env
from worker.adapters.store import Ledger
from worker.classify.model import Classifier
from worker.devstack import DevStack

pytestmark = pytest.mark.integration

MAILS = int(os.environ.get("ROUTER_FAULT_MAILS", "50"))
DRAIN_TIMEOUT = 240.0
SETTLE = 2.0  # seconds after INBOX is empty, so a late duplicate reply would still be counted

Inject = Callable[[FaultRun], str]


def run_scenario(
    scenario: str, stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
    inject: Inject, *, rules: tuple[CutRule, ...] = (), smtp_mode: str | None = None, smtp_every: int = 4,
    smtp_hold: float = 4.0, smtp_limit: int = 0, smtp_recipient: str = "", pollers: int = 1,
    overrides: dict[str, str] | None = None, poisoned: frozenset[int] = frozenset(),
) -> tuple[Outcome, FaultProxy, FaultySink | None]:
    """`poisoned`: indexes of mails that kill their worker every time: expected in quarantine, unanswered."""
    info = stack.sandbox()
    stack.clear_messages()
    tag = sanitize(scenario)
    mails = with_expectations(build_mails(MAILS, tag), router_env(stack, info), classifier)
    mails = [replace(mail, expects_reply=False) if index in poisoned else mail for index, mail in enumerate(mails)]
    with stack.imap(info.imap_user) as client:
        for mail in mails:
            client.append("INBOX", mail.raw)
    taxonomy = classifier.taxonomy
    sink_cm = (FaultySink(tmp_path / "smtp", smtp_mode, every=smtp_every, hold=smtp_hold, limit=smtp_limit,
                          recipient=smtp_recipient)
               if smtp_mode else contextlib.nullcontext())
    with FaultProxy(stack.imap_port, rules) as proxy, sink_cm as sink:
        run = FaultRun(stack, info, tmp_path, sink.spool if sink else stack.workdir / "smtp", proxy.port,
                       sink.port if sink else stack.smtp_port, overrides=dict(overrides or {}), sink=sink)
        try:
            run.start_worker("w-a")
            run.start_worker("w-b")
            for index in range(pollers):
                run.start_poller(f"poller-{index}")
            started = time.monotonic()
            notes = inject(run)
            waiting_from = time.monotonic()
            seconds = waiting_from - started + run.wait_until_drained(DRAIN_TIMEOUT)
            time.sleep(SETTLE)
            outcome = run.account(scenario, mails, seconds, taxonomy.sent_folder, taxonomy.quarantine_folder,
                                  notes)
        finally:
            run.stop()
    results.append(outcome)
    assert outcome.problems == (), run.logs()
    assert (outcome.lost, outcome.left_in_inbox, outcome.duplicated_in_folders) == (0, 0, 0)
    assert (outcome.duplicated_replies, outcome.missing_replies) == (0, 0)
    assert sum(m.expects_reply for m in mails) > 0  # the scenario exercised replies at all
    return outcome, proxy, sink


def midway(run: FaultRun, fraction: float = 0.3) -> None:
    run.wait_progress(MAILS, fraction)


def test_it_loses_and_repeats_nothing_when_a_worker_child_is_killed(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    def inject(run: FaultRun) -> str:
        midway(run, 0.2)
        first = run.kill_worker_child("w-a")
        midway(run, 0.5)
        second = run.kill_worker_child("w-b")
        return f"SIGKILL pool children {first}, {second}"

    run_scenario("SIGKILL a worker child", fault_stack, classifier, tmp_path, results, inject)


def test_it_loses_and_repeats_nothing_when_a_whole_worker_is_killed(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    def inject(run: FaultRun) -> str:
        midway(run)
        run.kill_group("w-a")
        run.start_worker("w-c")
        return "SIGKILL worker w-a and its pool; w-c started"

    run_scenario("SIGKILL the whole worker", fault_stack, classifier, tmp_path, results, inject)


def test_it_reconciles_after_redis_restarts_without_persistence(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    def inject(run: FaultRun) -> str:
        midway(run)
        fault_stack.restart_redis()
        return "queue, claims and ledger wiped"

    run_scenario("Redis restart, no persistence", fault_stack, classifier, tmp_path, results, inject)


def test_it_replies_once_when_redis_restarts_while_a_250_is_slow(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    # Losing the broker makes Celery SIGTERM the running task (our cancel-on-connection-loss setting): a
    # task killed while its reply awaited the 250 left no witness, and the customer got the reply twice.
    # And with the claims gone, a second worker given the mail while the first still waited for its 250
    # found no witness yet and replied too. Both happened before the fixes; each restart here hits both.
    def inject(run: FaultRun) -> str:
        assert run.sink is not None
        for _ in range(3):
            assert run.sink.handler.hold_began.acquire(timeout=60), "no reply was held at DATA"
            fault_stack.restart_redis()
        return "Redis restarted 3x while a 250 was held 5 s"

    outcome, _, sink = run_scenario("Redis restart while a 250 is slow", fault_stack, classifier, tmp_path,
                                    results, inject, smtp_mode="slow-250", smtp_every=5, smtp_hold=5.0,
                                    smtp_limit=3, overrides={"ROUTER_SMTP_TIMEOUT": "7"})
    assert sink is not None and sink.handler.held == 3


def test_it_resumes_after_dovecot_stops_and_starts(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    def inject(run: FaultRun) -> str:
        midway(run)
        restart_dovecot(fault_stack, 3.0)
        return "Dovecot down 3 s"

    run_scenario("Dovecot stop 3 s + start", fault_stack, classifier, tmp_path, results, inject)


def test_it_retries_a_fetch_whose_connection_was_cut(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    # A body FETCH serves a whole batch (ROUTER_BATCH_SIZE mails), so there are few of them: cut the first five.
    rules = (CutRule(r"UID FETCH \S+ \(.*BODY\.PEEK\[\]", "response", every=1, limit=5),)
    outcome, proxy, _ = run_scenario("IMAP cut during FETCH", fault_stack, classifier, tmp_path, results,
                                     lambda run: "first 5 body FETCHes cut (a batch each)", rules=rules)
    assert proxy.cuts == 5


def test_it_finishes_a_move_whose_tagged_ok_was_lost(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    # One MOVE per target folder and batch.
    rules = (CutRule(r"UID MOVE ", "tagged-ok", every=2, limit=5),)
    outcome, proxy, _ = run_scenario("IMAP cut between MOVE and OK", fault_stack, classifier, tmp_path, results,
                                     lambda run: "every 2nd MOVE's OK dropped, 5 times", rules=rules)
    assert proxy.cuts == 5


def test_it_never_resends_after_an_smtp_timeout_after_data(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    outcome, _, sink = run_scenario("SMTP timeout after DATA", fault_stack, classifier, tmp_path, results,
                                    lambda run: "every 8th 250 held 4 s (client timeout 2 s)",
                                    smtp_mode="timeout-after-data", smtp_every=8)
    assert sink is not None and sink.handler.held > 0


def test_it_sends_exactly_one_reply_after_an_smtp_4xx(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    outcome, _, sink = run_scenario("SMTP 4xx then success", fault_stack, classifier, tmp_path, results,
                                    lambda run: "first DATA of each reply: 451", smtp_mode="defer-first")
    assert sink is not None and sink.handler.deferred


def test_it_recognises_finished_mail_after_uidvalidity_changes(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    def inject(run: FaultRun) -> str:
        midway(run)
        new = uid_validity_bump(fault_stack, run.info.imap_user)
        return f"UIDVALIDITY -> {new}"

    run_scenario("UIDVALIDITY change", fault_stack, classifier, tmp_path, results, inject)


def test_it_moves_by_copy_and_uid_expunge_on_a_server_without_move(
    no_move_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    rules = (CutRule(r"UID COPY ", "tagged-ok", every=7, limit=5),)
    outcome, proxy, _ = run_scenario("no MOVE; cut between COPY+EXPUNGE", no_move_stack, classifier, tmp_path,
                                     results, lambda run: "UIDPLUS fallback; 5 COPY OKs dropped", rules=rules)
    assert proxy.cuts == 5


def test_it_lets_only_one_of_two_poller_replicas_work(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    def inject(run: FaultRun) -> str:
        midway(run)
        ledger = Ledger.connect(run.info.redis_url, run.info.namespace)
        holder = ledger.holder("poller") or ""
        pid = int(holder.split(":")[1]) if holder.count(":") >= 2 else -1
        active = next((name for name, proc in run.pollers.items() if proc.pid == pid), None)
        assert active is not None, f"no poller holds the lease ({holder!r})"
        run.kill_group(active)
        return f"2 replicas; active {active} SIGKILLed"

    run_scenario("two poller replicas", fault_stack, classifier, tmp_path, results, inject, pollers=2)


def test_it_quarantines_a_mail_that_kills_its_worker_and_routes_its_batch_mates(
    fault_stack: DevStack, classifier: Classifier, tmp_path: Path, results: list[Outcome],
) -> None:
    # A mail that crashes the process (a parser bug, the OOM killer) must end in quarantine after
    # ROUTER_MAX_ATTEMPTS tries, and the mails that shared its batch must not be counted with it: they are
    # routed and answered as usual. Here the "crash" is a SIGKILL while its reply waits at RCPT TO.
    index = 5  # in the first batch, with mails before and after it
    tag = sanitize("a mail that kills its worker")
    sender = f"customer{index}.{tag}@customer.example"

    def inject(run: FaultRun) -> str:
        assert run.sink is not None
        ledger = Ledger.connect(run.info.redis_url, run.info.namespace)
        with run.stack.imap(run.info.imap_user) as client:
            client.select_folder("INBOX", readonly=True)
            [uid] = client.search(["HEADER", "Message-ID", f"<{tag}-{index}@customer.example>"])
            uidvalidity = client.folder_status("INBOX", [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        killed = []
        for _ in range(2):
            assert run.sink.handler.holding.wait(60), "the poisoned mail's reply was never started"
            holder = ledger.holder(f"uid:{uidvalidity}:{uid}") or ""
            pid = int(holder.split(":")[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            while run.sink.handler.holding.is_set():
                time.sleep(0.05)
        return f"pool child SIGKILLed on mail {index}, twice ({killed[0]}, {killed[1]})"

    outcome, _, sink = run_scenario("a mail that kills its worker", fault_stack, classifier, tmp_path, results,
                                    inject, smtp_mode="hold-rcpt", smtp_hold=3.0, smtp_recipient=sender,
                                    overrides={"ROUTER_MAX_ATTEMPTS": "2"}, poisoned=frozenset({index}))
    assert sink is not None and sink.handler.held == 2
    assert outcome.quarantined == 1  # the poisoned mail alone
