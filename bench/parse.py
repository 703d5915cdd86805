"""Benchmark parse(): messages/s and MB/s over the corpora, median of several runs, on one core.

    .venv/bin/python bench/parse.py [--runs 5] [--max-size 20000] [CORPORA_DIR]

"Typical inquiries" are the corpus mails under --max-size bytes (default 20 KB); the figure for the
whole corpus (large newsletters, torture tests) is printed as well. Rates are given per wall-clock
second and per CPU second of this process: on a shared machine the wall figure also measures the
other jobs, the CPU figure only parse().
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from worker.mail.parse import ParseError, parse  # noqa: E402

MAIL_SUFFIXES = (".eml", ".box", ".msg", ".txt", ".raw", "")
NOT_MAIL = (
    "README",
    "LICENSE",
    "SHA256SUMS",
    "MANIFEST",
    ".gitattributes",
    "ARTISTIC-LICENSE",
    "lorem-ipsum",
)


def load_mails(root: Path) -> list[bytes]:
    mails = []
    for path in sorted(root.rglob("*")):
        if (
            path.is_file()
            and path.suffix in MAIL_SUFFIXES
            and "datasets" not in path.parts
            and "_decoded_" not in path.name
            and not path.name.startswith(NOT_MAIL)
        ):
            mails.append(path.read_bytes())
    return mails


def run_once(mails: list[bytes]) -> tuple[float, float]:
    """Wall-clock and CPU seconds for parsing every mail once."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for raw in mails:
        with contextlib.suppress(ParseError):
            parse(raw)
    return time.perf_counter() - started, time.process_time() - cpu_started


def measure(label: str, mails: list[bytes], runs: int) -> None:
    timings = [run_once(mails) for _ in range(runs)]
    seconds = statistics.median(wall for wall, _ in timings)
    cpu_seconds = statistics.median(cpu for _, cpu in timings)
    megabytes = sum(len(m) for m in mails) / 1_000_000
    print(
        f"{label:<28} {len(mails):>5} mails {megabytes:7.1f} MB  "
        f"{len(mails) / seconds:8.0f} messages/s  {megabytes / seconds:6.2f} MB/s  "
        f"(CPU time: {len(mails) / cpu_seconds:6.0f} messages/s)  (median of {runs})"
    )


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "corpora"
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpora", nargs="?", default=os.environ.get("CORPORA_DIR", str(default)))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-size", type=int, default=20_000)
    args = parser.parse_args()
    root = Path(args.corpora)
    if not root.is_dir():
        sys.exit(f"corpora not found at {root} (pass a path or set CORPORA_DIR)")
    mails = load_mails(root)
    typical = [m for m in mails if len(m) < args.max_size]
    run_once(mails[:50])  # warm up imports and caches
    measure(f"typical (< {args.max_size // 1000} KB)", typical, args.runs)
    measure("whole corpus", mails, args.runs)


if __name__ == "__main__":
    main()
