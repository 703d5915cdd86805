"""`python -m worker <command>`: the entry points staff and deployments use.

  classify PATH...   one JSON line per message: what the worker would do with it (no I/O but reading)
  worker             a Celery worker process (`--concurrency N`, `--hostname NAME`, `--mailbox NAME`)
  poller             the inbox watcher that offers new mail to the workers
  run                worker + poller as separate processes, until Ctrl-C
  demo               the whole product on a throwaway local stack, with bundled sample mail
  dashboard          the staff web app

With ROUTER_MAILBOXES_FILE set, `worker`, `poller` and `run` serve every mailbox the file lists
(`worker.mailboxes`): `run` starts one worker process per mailbox and one poller process for all.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from worker.settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    classify = sub.add_parser("classify", help="print what the router would do with .eml files")
    classify.add_argument("paths", nargs="+", type=Path)
    classify.add_argument("--models", type=Path, default=None, help="models folder (default: ./models)")
    work = sub.add_parser("worker", help="run a Celery worker process")
    work.add_argument("--concurrency", type=int, default=2)
    work.add_argument("--hostname", default=None, help="Celery node name, e.g. worker1@%%h")
    work.add_argument("--mailbox", default=None, help="with ROUTER_MAILBOXES_FILE: the mailbox whose queue to serve")
    sub.add_parser("poller", help="watch the inbox and offer new mail to the workers")
    run = sub.add_parser("run", help="worker + poller until interrupted")
    run.add_argument("--concurrency", type=int, default=2)
    demo = sub.add_parser("demo", help="run the router end to end on a local throwaway stack")
    demo.add_argument("--keep", action="store_true", help="leave the stack running until Ctrl-C")
    sub.add_parser("dashboard", help="serve the staff dashboard")
    sub.add_parser("corrections", help="export staff corrections to training_data/corrections.jsonl")
    args = parser.parse_args(argv)

    if args.command == "classify":
        return classify_paths(args.paths, args.models)
    if args.command == "demo":
        from worker.demo import run_demo

        return run_demo(keep=args.keep)
    if args.command == "dashboard":
        from worker.dashboard.app import serve

        return serve()
    if args.command == "corrections":
        from worker.corrections import export_corrections_cli

        return export_corrections_cli()

    # Imported here, not above: worker.mailboxes imports Celery, which classify never needs.
    from worker.mailboxes import FILE_VARIABLE

    if os.environ.get(FILE_VARIABLE):
        return _several_mailboxes(args, parser)
    settings = _settings_or_exit()
    _configure_logging(settings)
    if args.command == "worker":
        return run_worker(settings, args.concurrency, args.hostname)
    if args.command == "poller":
        return run_poller_until_signal(settings)
    if args.command == "run":
        return run_both(process_commands(args.concurrency, ()))
    parser.error(f"unknown command {args.command}")
    return 2


def _several_mailboxes(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`worker`, `poller` and `run` when ROUTER_MAILBOXES_FILE lists the mailboxes."""
    from worker.mailboxes import select_mailbox, settings_for_env, watch_all_until_signal

    try:
        mailboxes = settings_for_env()
        if args.command == "worker":
            if not args.mailbox:
                parser.error("ROUTER_MAILBOXES_FILE is set: say which mailbox this worker serves (--mailbox NAME)")
            mailboxes = (select_mailbox(mailboxes, args.mailbox),)
    except SettingsError as exc:
        print(f"python -m worker: {exc}", file=sys.stderr)
        return 2
    _configure_logging(mailboxes[0])
    if args.command == "worker":
        return run_worker(mailboxes[0], args.concurrency, args.hostname)
    if args.command == "poller":
        return watch_all_until_signal(mailboxes)
    return run_both(process_commands(args.concurrency, [settings.imap.name for settings in mailboxes]))


def _settings_or_exit() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"python -m worker: {exc}", file=sys.stderr)
        print("See .env.example and the README's Configuration section.", file=sys.stderr)
        raise SystemExit(2) from None


def _configure_logging(settings: Settings) -> None:
    from worker.logs import configure

    configure(json_lines=settings.log_json)


# --- classify ------------------------------------------------------------------------------------


def iter_eml(paths: Sequence[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(path.rglob("*.eml"))
        else:
            yield path


def classify_paths(paths: Sequence[Path], models_dir: Path | None) -> int:
    from worker.classify.model import DEFAULT_MODELS_DIR, load_current
    from worker.mail.parse import ParseError
    from worker.offline import classify_raw, offline_policies

    classifier = load_current(models_dir or DEFAULT_MODELS_DIR)
    policies = offline_policies(classifier.taxonomy)
    now = datetime.now(UTC)
    status = 0
    for path in iter_eml(paths):
        record: dict[str, Any]
        try:
            raw = path.read_bytes()
        except OSError as exc:
            record = {"path": str(path), "error": f"cannot read: {exc.strerror or exc}"}
            status = 1
        else:
            try:
                record = {"path": str(path), **classify_raw(raw, classifier, policies, now)}
            except ParseError as exc:
                record = {"path": str(path), "error": f"cannot parse: {exc}"}
                status = 1
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return status


# --- long-running processes ----------------------------------------------------------------------


def run_worker(settings: Settings, concurrency: int, hostname: str | None) -> int:
    from worker.celery_app import create_app

    problem = model_problem(settings.models_dir)
    if problem:
        # Started anyway, the worker would fail every task and leave the mail in INBOX: refuse instead.
        print(f"python -m worker worker: {problem}", file=sys.stderr)
        return 2
    app = create_app(settings)
    argv = ["worker", "--loglevel=INFO", f"--concurrency={concurrency}", "--without-gossip", "--without-mingle"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)
    return 0


def model_problem(models_dir: Path) -> str | None:
    """Why the worker could not load `models/current` (missing, another bundle format, altered), or None."""
    from worker.classify.bundle import BundleError
    from worker.classify.model import ModelNotFound, check_current

    try:
        check_current(models_dir)
    except (ModelNotFound, BundleError, OSError, ValueError) as exc:
        return str(exc)
    return None


def run_poller_until_signal(settings: Settings) -> int:
    from worker.celery_app import create_app
    from worker.poller import run_poller

    run_poller(settings, create_app(settings), stop_on_signals())
    return 0


def stop_on_signals() -> threading.Event:
    """An event that Ctrl-C (SIGINT) or SIGTERM (`docker stop`, systemd) sets, for a clean shutdown."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def process_commands(concurrency: int, mailboxes: Sequence[str]) -> list[list[str]]:
    """The processes of `run`: one worker (per mailbox, when a mailboxes file names them) and one poller."""
    python = [sys.executable, "-m", "worker"]
    if not mailboxes:
        return [[*python, "worker", f"--concurrency={concurrency}"], [*python, "poller"]]
    # Celery node names must differ between workers on one host; the mailbox name is unique and readable.
    return [[*python, "worker", f"--concurrency={concurrency}", "--mailbox", name, f"--hostname={name}@%h"]
            for name in mailboxes] + [[*python, "poller"]]


def run_both(commands: Sequence[Sequence[str]]) -> int:
    """The workers and the poller as separate processes, as in production; stops all of them on Ctrl-C or
    SIGTERM (`docker stop`, systemd), or when one of them ends."""
    stop = stop_on_signals()
    procs = [subprocess.Popen(list(command)) for command in commands]
    try:
        while not stop.is_set() and all(p.poll() is None for p in procs):
            stop.wait(1.0)
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    return max((p.returncode or 0) for p in procs)


logging.getLogger("worker").addHandler(logging.NullHandler())
