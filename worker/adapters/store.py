"""The Redis edge: the durable ledger (decisions, replies sent, threads, rate-limit marks), locks and the event log.

Every key lives under `router:<mailbox>:` so several mailboxes share one Redis without touching each
other. Deploy Redis with AOF (`appendfsync everysec`) and `maxmemory-policy noeviction`: the ledger is
what stops a second reply after a crash. The inbox stays the source of truth for what is not done;
the ledger is the source of truth for what was already sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.client import Pipeline

DECISION_TTL = 180 * 24 * 3600  # keep decisions half a year: threads and corrections refer back to them
SENT_WINDOW = 60 * 24 * 3600  # RFC 3834 windows are at most 60 days (Pigeonhole :days range 1-60)
EVENT_LOG_MAXLEN = 200_000
ATTEMPTS_TTL = 7 * 24 * 3600
CLAIM_BATCH = 500  # names per script call: keeps each call to a fraction of a millisecond of Redis time
# SET NX EX for every key, atomically per key like `claim`; returns 1 where this owner got the claim.
CLAIM_MANY = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('set', key, ARGV[1], 'NX', 'EX', ARGV[2]) and 1 or 0
end
return out
"""
# KEYS: done, attempts. The done folder if set; otherwise INCR + EXPIRE of the attempt counter.
DONE_OR_ATTEMPT = """
local done = redis.call('get', KEYS[1])
if done then return {done, 0} end
local n = redis.call('incr', KEYS[2])
redis.call('expire', KEYS[2], ARGV[1])
return {false, n}
"""


@dataclass(frozen=True)
class SentMark:
    kind: str
    at: float
    key: str


class Ledger:
    def __init__(self, client: redis.Redis, mailbox: str) -> None:
        self.redis = client
        self.prefix = f"router:{mailbox}:"
        self.mailbox = mailbox
        self._claim_many = client.register_script(CLAIM_MANY)
        self._done_or_attempt = client.register_script(DONE_OR_ATTEMPT)

    @classmethod
    def connect(cls, url: str, mailbox: str) -> Ledger:
        return cls(redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10), mailbox)

    def _k(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # --- work claims -----------------------------------------------------------------------------

    def claim(self, name: str, owner: str, ttl: int) -> bool:
        """A lease: true for exactly one owner until it expires or is released."""
        return bool(self.redis.set(self._k("claim", name), owner, nx=True, ex=ttl))

    def claim_many(self, names: list[str], owner: str, ttl: int) -> list[bool]:
        """`claim` for each name, in one round trip per CLAIM_BATCH names; element i says whether names[i]
        was claimed. The poller claims an offer for every UID in INBOX on every scan: one SET per round
        trip made the scan of a 2,000-mail inbox cost 2,000 round trips."""
        out: list[bool] = []
        for start in range(0, len(names), CLAIM_BATCH):
            keys = [self._k("claim", name) for name in names[start:start + CLAIM_BATCH]]
            out += [bool(flag) for flag in cast(list[int], self._claim_many(keys=keys, args=[owner, ttl]))]
        return out

    def release(self, name: str, owner: str) -> None:
        # Compare-and-delete so a worker whose lease expired cannot drop another worker's lease.
        script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
        self.redis.eval(script, 1, self._k("claim", name), owner)

    def renew(self, name: str, owner: str, ttl: int) -> bool:
        script = (
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) "
            "else return 0 end"
        )
        return bool(self.redis.eval(script, 1, self._k("claim", name), owner, ttl))

    def holder(self, name: str) -> str | None:
        value = self.redis.get(self._k("claim", name))
        return value.decode() if isinstance(value, bytes) else None

    def done_or_attempt(self, key: str) -> tuple[str | None, int]:
        """(folder, 0) when the mail is recorded as filed, else (None, attempt number) from the durable
        attempt counter that parks a mail that keeps failing in quarantine. One script, so a filed mail
        is not counted."""
        done, attempts = cast(list[Any], self._done_or_attempt(
            keys=[self._k("done", key), self._k("attempts", key)], args=[ATTEMPTS_TTL]))
        return (done.decode() if isinstance(done, bytes) else None), int(attempts)

    def forget_attempt(self, key: str) -> None:
        self.redis.decr(self._k("attempts", key))

    def note_error(self, key: str, error: str) -> None:
        self.redis.set(self._k("last-error", key), error[:500], ex=7 * 24 * 3600)

    def last_error(self, key: str) -> str | None:
        value = self.redis.get(self._k("last-error", key))
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else None

    # --- decisions and replies -------------------------------------------------------------------

    def decision(self, key: str) -> dict[str, Any] | None:
        return self._json(self._k("decision", key))

    def record_decision(self, key: str, record: dict[str, Any]) -> None:
        self.redis.set(self._k("decision", key), json.dumps(record, ensure_ascii=False), ex=DECISION_TTL)

    def replace_decision(self, key: str, record: dict[str, Any]) -> bool:
        """`record_decision`, saying whether a decision was recorded before (SET ... GET, Redis >= 6.2)."""
        earlier = self.redis.set(self._k("decision", key), json.dumps(record, ensure_ascii=False), ex=DECISION_TTL,
                                 get=True)
        return earlier is not None

    def reply_state(self, key: str) -> dict[str, Any] | None:
        return self._json(self._k("reply", key))

    def mark_reply(self, key: str, state: str, message_id: str, sender: str, kind: str, at: float) -> None:
        """Record a reply only after the server took it (or may have): the rate-limit mark goes with it."""
        record = {"state": state, "message_id": message_id, "at": at, "kind": kind}
        pipe = self.redis.pipeline()
        pipe.set(self._k("reply", key), json.dumps(record), ex=DECISION_TTL)
        sent_key = self._k("sent", sender)
        pipe.zadd(sent_key, {f"{kind}|{at:.6f}|{key}": at})
        pipe.zremrangebyscore(sent_key, 0, at - SENT_WINDOW)
        pipe.expire(sent_key, SENT_WINDOW)
        pipe.execute()

    def sent_to(self, sender: str, since: float) -> list[SentMark]:
        raw = cast(Iterable[bytes], self.redis.zrangebyscore(self._k("sent", sender), since, "+inf"))
        marks = []
        for member in raw:
            kind, at, key = member.decode().split("|", 2)
            marks.append(SentMark(kind=kind, at=float(at), key=key))
        return marks

    def mark_done(self, key: str, folder: str, event: dict[str, Any] | None = None) -> None:
        """Record the mail as filed in `folder`, then append `event` to the event log, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self._k("done", key), folder, ex=DECISION_TTL)
        if event is not None:
            self._add_event(pipe, event)
        pipe.execute()

    # --- threads ------------------------------------------------------------------------------------

    def thread(self, thread_key: str) -> dict[str, Any] | None:
        return self._json(self._k("thread", thread_key))

    def alias_thread(self, message_id: str, thread_key: str) -> None:
        """Map a message of a case to the case, so a reply to any message in it finds the case."""
        self._alias(self.redis, message_id, thread_key)

    def save_case(self, thread_key: str, record: dict[str, Any], message_ids: Iterable[str]) -> None:
        """The case's record and an `alias_thread` for each of its message ids, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self._k("thread", thread_key), json.dumps(record, ensure_ascii=False), ex=DECISION_TTL)
        for message_id in message_ids:
            self._alias(pipe, message_id, thread_key)
        pipe.execute()

    def _alias(self, client: redis.Redis | Pipeline, message_id: str, thread_key: str) -> None:
        client.set(self._k("thread-of", message_id), thread_key, ex=DECISION_TTL)

    def thread_of(self, message_ids: Iterable[str]) -> str | None:
        for message_id in message_ids:
            value = self.redis.get(self._k("thread-of", message_id))
            if isinstance(value, bytes):
                return value.decode()
        return None

    # --- poller state ---------------------------------------------------------------------------------

    def uid_state(self) -> tuple[int, int] | None:
        value = self._json(self._k("uidstate"))
        return (int(value["uidvalidity"]), int(value["last_uid"])) if value else None

    def save_uid_state(self, uidvalidity: int, last_uid: int) -> None:
        self.redis.set(self._k("uidstate"), json.dumps({"uidvalidity": uidvalidity, "last_uid": last_uid}))

    def heartbeat(self, component: str, at: float | None = None) -> None:
        self.redis.hset(self._k("heartbeat"), component, f"{time.time() if at is None else at:.3f}")

    def heartbeats(self) -> dict[str, float]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self._k("heartbeat")))
        return {k.decode(): float(v) for k, v in raw.items()}

    # --- event log (dashboard and metrics read it) ----------------------------------------------

    def log_event(self, event: dict[str, Any]) -> None:
        self._add_event(self.redis, event)

    def _add_event(self, client: redis.Redis | Pipeline, event: dict[str, Any]) -> None:
        fields = {"json": json.dumps(event, ensure_ascii=False)}
        client.xadd(self._k("events"), fields, maxlen=EVENT_LOG_MAXLEN, approximate=True)  # type: ignore[arg-type]

    def events(self, count: int = 1000, newest_first: bool = True) -> list[dict[str, Any]]:
        if newest_first:
            rows = self.redis.xrevrange(self._k("events"), count=count)
        else:
            rows = self.redis.xrange(self._k("events"), count=count)
        out = []
        for _id, fields in cast(list[tuple[bytes, dict[bytes, bytes]]], rows):
            out.append(json.loads(fields[b"json"]))
        return out

    def _json(self, key: str) -> dict[str, Any] | None:
        value = self.redis.get(key)
        return json.loads(value) if isinstance(value, bytes) else None
