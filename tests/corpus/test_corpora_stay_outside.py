"""The third-party corpora are read from CORPORA_DIR and never copied into the repository: they carry other
projects' licences, and a copy would silently stop following the shared set."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
SMALLEST = 200  # bytes: below this, files such as an empty __init__.py match by accident


def fingerprint(data: bytes) -> str:
    """The same for a copy whose line ends or indentation were changed on the way."""
    return hashlib.sha256(re.sub(rb"\s+", b"", data)).hexdigest()


def tracked_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPOSITORY, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing to say about tracked files")
    return [REPOSITORY / name for name in listed.stdout.decode().split("\0") if name]


def test_it_tracks_no_file_identical_to_a_corpus_file(corpora: Path) -> None:
    # Byte for byte, whatever the size: six empty __init__.py files were identical to empty corpus files
    # (mime4j's decoded parts, imap_tools' .gitattributes), which a checksum comparison reports as copies.
    originals = {hashlib.sha256(path.read_bytes()).hexdigest(): path.relative_to(corpora)
                 for path in corpora.rglob("*") if path.is_file()}
    copies = [
        f"{path.relative_to(REPOSITORY)} is identical to {originals[digest]}"
        for path in tracked_files()
        if path.is_file() and (digest := hashlib.sha256(path.read_bytes()).hexdigest()) in originals
    ]
    assert copies == [], "read these from CORPORA_DIR instead, or give them content of their own:\n" + "\n".join(copies)


def test_it_tracks_no_file_copied_from_the_corpora(corpora: Path) -> None:
    originals = {
        fingerprint(path.read_bytes()): path.relative_to(corpora)
        for path in corpora.rglob("*")
        if path.is_file() and path.stat().st_size >= SMALLEST
    }
    copies = [
        f"{path.relative_to(REPOSITORY)} is a copy of {originals[digest]}"
        for path in tracked_files()
        if path.is_file() and (digest := fingerprint(path.read_bytes())) in originals
    ]
    assert copies == [], "read these from CORPORA_DIR instead:\n" + "\n".join(copies)
