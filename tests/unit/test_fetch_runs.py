"""A batch's bodies are fetched in runs, so a batch of large mails is never held in memory at once."""

from __future__ import annotations

from worker.act import fetch_runs

MB = 1024 * 1024


def test_it_fetches_a_batch_of_ordinary_mails_in_one_run() -> None:
    uids = list(range(1, 21))
    assert list(fetch_runs(uids, dict.fromkeys(uids, 8_000), budget=10 * MB)) == [uids]


def test_it_never_holds_more_than_the_budget_of_bodies_at_once() -> None:
    sizes = {1: 4 * MB, 2: 4 * MB, 3: 4 * MB, 4: 1_000, 5: 9 * MB}
    runs = list(fetch_runs(list(sizes), sizes, budget=10 * MB))
    assert runs == [[1, 2], [3, 4], [5]]
    assert all(sum(sizes[uid] for uid in run) <= 10 * MB for run in runs)


def test_it_gives_a_mail_over_the_budget_a_run_of_its_own() -> None:
    # Oversized mail is quarantined without its body being fetched; it still needs a place in the order.
    sizes = {1: 1_000, 2: 50 * MB, 3: 1_000}
    assert list(fetch_runs([1, 2, 3], sizes, budget=10 * MB)) == [[1], [2], [3]]


def test_it_keeps_gone_mails_in_the_order() -> None:
    assert list(fetch_runs([7, 8], {8: 100}, budget=10 * MB)) == [[7, 8]]
