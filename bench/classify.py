"""Benchmark the classifier: batch throughput, single-message p99, model load time, bundle size, training time.

    .venv/bin/python bench/classify.py [--models DIR] [--data DIR] [--repeat 3] [--train]

Runs on one core (BLAS and OpenMP threads pinned to 1 before numpy loads). The mails are the labelled
inquiries of the data folder, parsed once beforehand: only classification is timed. `--train` also
times a fresh `make train` into a temporary folder; otherwise the training time recorded in the
current bundle's metrics.json is printed. Targets (issue 4): >= 2,000 inquiries/s, p99 <= 5 ms,
load <= 1 s, bundle <= 50 MB.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from worker.classify.bundle import current_bundle, read_metrics  # noqa: E402
from worker.classify.dataset import load_records  # noqa: E402
from worker.classify.model import DEFAULT_MODELS_DIR, load_bundle  # noqa: E402
from worker.classify.train import DEFAULT_DATA_DIR, taxonomy_for  # noqa: E402
from worker.classify.train import main as train_main  # noqa: E402
from worker.domain import Inquiry  # noqa: E402
from worker.mail.parse import parse  # noqa: E402


def parsed_inquiries(data_dir: Path) -> list[Inquiry]:
    records = [r for r in load_records(data_dir, taxonomy_for(data_dir)) if r.is_inquiry]
    inquiries = []
    for n, record in enumerate(sorted(records, key=lambda r: r.id)):
        message = EmailMessage()
        message["From"] = "customer@example.com"
        message["To"] = "support@desk.example"
        message["Subject"] = record.subject
        message["Message-ID"] = f"<bench-{n}@example.com>"
        message.set_content(record.body)
        inquiries.append(parse(message.as_bytes()))
    return inquiries


def load_seconds_in_fresh_process(bundle: Path) -> float:
    """Imports excluded: the time `load_bundle` takes in a process that has imported the worker."""
    code = (
        "import time, sys; from pathlib import Path; from worker.classify.model import load_bundle;"
        "t = time.perf_counter(); load_bundle(Path(sys.argv[1])); print(time.perf_counter() - t)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code, str(bundle)], capture_output=True, text=True, check=True, cwd=root)
    return float(out.stdout.strip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--train", action="store_true", help="also time a fresh training")
    args = parser.parse_args(argv)

    bundle = current_bundle(args.models)
    if bundle is None:
        print(f"no model under {args.models}: run `make train` first")
        return 1
    started = time.perf_counter()
    classifier = load_bundle(bundle)
    warm_load = time.perf_counter() - started
    fresh_load = min(load_seconds_in_fresh_process(bundle) for _ in range(args.repeat))
    size = sum(p.stat().st_size for p in bundle.iterdir() if p.is_file())
    inquiries = parsed_inquiries(args.data)

    batch = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        classifier.predict_many(inquiries)
        batch.append(time.perf_counter() - started)
    throughput = len(inquiries) / min(batch)

    single = []
    for inquiry in inquiries:
        started = time.perf_counter()
        classifier.predict(inquiry)
        single.append(time.perf_counter() - started)
    latencies = np.array(single) * 1000

    print(f"bundle        {bundle.name}: {size / 1e6:.1f} MB (target <= 50 MB)")
    print(f"model load    {fresh_load * 1000:.0f} ms in a fresh process, {warm_load * 1000:.0f} ms here (target <= 1 s)")
    print(f"batch         {throughput:,.0f} inquiries/s on one core ({len(inquiries)} inquiries, best of {args.repeat})"
          " (target >= 2,000/s)")
    print(f"single        p50 {np.percentile(latencies, 50):.2f} ms, p99 {np.percentile(latencies, 99):.2f} ms, "
          f"max {latencies.max():.2f} ms (target p99 <= 5 ms)")
    recorded = read_metrics(bundle).get("training_seconds")
    if recorded is not None:
        print(f"training      {recorded:.0f} s recorded by make train for this bundle (target < 120 s)")
    if args.train:
        with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            train_main(["--data", str(args.data), "--models", scratch])
            seconds = time.perf_counter() - started
        print(f"training      {seconds:.0f} s for a fresh `make train` on {args.data}")
    print(json.dumps({"throughput_per_s": round(throughput), "p99_ms": round(float(np.percentile(latencies, 99)), 2),
                      "load_ms": round(fresh_load * 1000), "bundle_mb": round(size / 1e6, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
