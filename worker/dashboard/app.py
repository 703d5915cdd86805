"""The staff dashboard's Flask app: `create_app(settings, dashboard_settings)` and `serve()` (waitress).

Views are thin: they check access, open an IMAP connection for the request, call folders/stats/actions
and render a template under worker/dashboard/templates. Only /healthz is public; /metrics and /readyz
also accept the metrics bearer token for Prometheus and probes; every other route needs a staff session.
Every POST carries the session's CSRF token (synchronizer token pattern, OWASP CSRF Cheat Sheet).
"""

from __future__ import annotations

import hmac
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from flask import Flask, Response, abort, flash, g, redirect, render_template, request, session, url_for
from imapclient.exceptions import IMAPClientError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from werkzeug.wrappers import Response as BaseResponse

from worker.adapters.imap import Mailbox
from worker.adapters.smtp import Outbox
from worker.adapters.store import Ledger
from worker.corrections import CorrectionLog, scan_once
from worker.dashboard import charts, folders
from worker.dashboard.actions import ActionError, locate, reroute, send_suggested_reply
from worker.dashboard.auth import CSRF_FIELD, LoginLimiter, check_password, csrf_token, csrf_valid
from worker.dashboard.settings import DashboardSettings
from worker.dashboard.stats import overview as overview_of
from worker.dashboard.tally import EventFeed
from worker.dashboard.view import message_view
from worker.metrics import RouterCollector
from worker.route.taxonomy import Taxonomy, load_taxonomy
from worker.settings import Settings, SettingsError

log = logging.getLogger("worker.dashboard")
PUBLIC_ENDPOINTS = frozenset({"healthz"})
TOKEN_ENDPOINTS = frozenset({"metrics", "readyz"})
OPEN_TO_ANONYMOUS = frozenset({"login"})  # the login page itself, still behind CSRF for its POST

ViewResult = str | Response | BaseResponse | tuple[Any, int]


def create_app(settings: Settings, dashboard: DashboardSettings, taxonomy: Taxonomy | None = None) -> Flask:
    taxonomy = taxonomy or load_taxonomy(dashboard.taxonomy_path)
    app = Flask(__name__, static_folder=None, template_folder=str(Path(__file__).parent / "templates"))
    app.config.update(
        SECRET_KEY=dashboard.secret_key.reveal(),
        SESSION_COOKIE_NAME="router_session",
        SESSION_COOKIE_SECURE=dashboard.cookie_secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=dashboard.session_hours),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    ledger = Ledger.connect(settings.redis_url, settings.imap.name)
    limiter = LoginLimiter(ledger.redis, ledger.prefix, dashboard.login_attempts, dashboard.login_window)
    registry = CollectorRegistry(auto_describe=False)
    feed = EventFeed(ledger, dashboard.timezone)
    app.extensions["router_event_feed"] = feed
    registry.register(RouterCollector(ledger, feed, taxonomy, lambda: Mailbox.connect(settings.imap)))
    known_folders = ("INBOX", *taxonomy.all_folders())

    @contextmanager
    def imap() -> Iterator[Mailbox]:
        mailbox = Mailbox.connect(settings.imap)
        try:
            yield mailbox
        finally:
            mailbox.logout()

    def current_user() -> str | None:
        if dashboard.proxy_user_header:
            # Trusted only because the deployment says an authenticating proxy sets (and strips) this header.
            name = request.headers.get(dashboard.proxy_user_header, "").strip()
            if name:
                return name
        user = session.get("user")
        # An account removed from the configuration loses access at once, not when its cookie expires.
        return user if isinstance(user, str) and user in dashboard.users else None

    def token_ok() -> bool:
        token = dashboard.metrics_token
        given = request.headers.get("Authorization", "")
        return token is not None and hmac.compare_digest(given.encode(), f"Bearer {token.reveal()}".encode())

    @app.before_request
    def guard() -> ViewResult | None:
        endpoint = request.endpoint or ""
        if endpoint in PUBLIC_ENDPOINTS:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS") and not csrf_valid(session, request.form.get(CSRF_FIELD)):
            return render_template("error.html", message="CSRF token missing or invalid; reload the page."), 400
        g.user = current_user()
        if g.user is not None or endpoint in OPEN_TO_ANONYMOUS:
            return None
        if endpoint in TOKEN_ENDPOINTS and token_ok():
            return None
        if endpoint in TOKEN_ENDPOINTS or not endpoint:
            return Response("authentication required\n", 401, {"WWW-Authenticate": "Bearer"})
        return redirect(url_for("login", next=request.full_path.rstrip("?") if request.method == "GET" else "/"))

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint not in PUBLIC_ENDPOINTS:
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.template_filter("local")
    def local(value: datetime | float | None) -> str:
        """A time in the desk's time zone, as staff read it."""
        if value is None:
            return ""
        when = datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else value
        return when.astimezone(dashboard.timezone).strftime("%Y-%m-%d %H:%M")

    @app.context_processor
    def inject() -> dict[str, Any]:
        return {"csrf_token": lambda: csrf_token(session), "user": g.get("user"), "taxonomy": taxonomy,
                "needs_review_folder": taxonomy.needs_review_folder, "age": _age}

    @app.errorhandler(OSError)
    @app.errorhandler(IMAPClientError)
    @app.errorhandler(redis.RedisError)
    def unavailable(exc: Exception) -> tuple[str, int]:
        # The mailbox or Redis is down: say so (503) instead of a bare 500; /readyz names which.
        log.warning("backend unavailable on %s: %s", request.path, exc)
        return render_template("error.html", message=f"The mail server or Redis is not reachable right now "
                                                     f"({type(exc).__name__}); try again shortly."), 503

    # --- public and probes ----------------------------------------------------------------------------

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @app.get("/readyz")
    def readyz() -> tuple[dict[str, Any], int]:
        checks: dict[str, Any] = {}
        try:
            ledger.redis.ping()
            checks["redis"] = "ok"
            beats = {k: v for k, v in ledger.heartbeats().items() if k.startswith("poller:")}
            newest = max(beats.values(), default=0.0)
            age = time.time() - newest
            checks["poller"] = "ok" if age <= dashboard.poller_stale_after else (
                f"no poller cycle for {age:.0f} s" if newest else "no poller cycle recorded")
        except Exception as exc:  # any Redis failure makes us unready; the text says which
            checks["redis"] = f"error: {type(exc).__name__}"
            checks["poller"] = "unknown"
        try:
            with imap() as mailbox:
                mailbox.folder_exists("INBOX")
            checks["imap"] = "ok"
        except (OSError, IMAPClientError) as exc:
            checks["imap"] = f"error: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return {"ready": ready, "checks": checks}, 200 if ready else 503

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    # --- session ----------------------------------------------------------------------------------------

    @app.route("/login", methods=["GET", "POST"])
    def login() -> ViewResult:
        if request.method == "GET":
            return render_template("login.html", next=_safe_next(request.args.get("next")))
        user = request.form.get("user", "").strip()[:200]
        password = request.form.get("password", "")[:1000]
        keys = (f"user:{user.lower()}", f"addr:{request.remote_addr}")
        if limiter.blocked(keys):
            log.warning("login rate-limited for %r from %s", user, request.remote_addr)
            return render_template("login.html", error="Too many failed attempts; try again later.",
                                   next="/"), 429
        if not check_password(dashboard.users, user, password):
            limiter.failed(keys)
            log.warning("failed login for %r from %s", user, request.remote_addr)
            return render_template("login.html", error="Wrong user name or password.",
                                   next=_safe_next(request.form.get("next"))), 401
        limiter.succeeded(keys[0])
        session.clear()  # a fresh session (and CSRF token) on login: no session fixation
        session.permanent = True
        session["user"] = user
        csrf_token(session)
        log.info("login %s from %s", user, request.remote_addr)
        return redirect(_safe_next(request.form.get("next")))

    @app.post("/logout")
    def logout() -> BaseResponse:
        session.clear()
        return redirect(url_for("login"))

    # --- pages ------------------------------------------------------------------------------------------

    @app.get("/")
    def overview() -> ViewResult:
        now = datetime.now(UTC)
        with imap() as mailbox:
            summaries = [folders.summary(mailbox, folder) for folder in known_folders]
        stats = overview_of(feed.refresh(), now)
        categories = [*taxonomy.labels, *taxonomy.kind_folders, "unlabelled"]
        return render_template(
            "overview.html", summaries=summaries, stats=stats, now=now, categories=categories,
            volume_svg=charts.stacked_bars(stats.per_day, "Mail per category per day"),
            confidence_svg=charts.histogram(stats.confidence, "Confidence of inquiries, last 7 days"),
            quarantine=next(s for s in summaries if s.folder == taxonomy.quarantine_folder),
        )

    @app.get("/queue")
    def queue() -> ViewResult:
        folder = request.args.get("folder", taxonomy.needs_review_folder)
        if folder not in known_folders:
            abort(404)
        query = request.args.get("q", "")[:200]
        page = max(1, request.args.get("page", 1, type=int) or 1)
        with imap() as mailbox:
            uids = folders.search_uids(mailbox, folder, query)
            chunk = uids[(page - 1) * folders.PAGE_SIZE: page * folders.PAGE_SIZE]
            listed = folders.list_messages(mailbox, folder, chunk)
        rows = [{"message": m, "decision": ledger.decision(m.key) if m.key else None,
                 "reply": ledger.reply_state(m.key) if m.key else None} for m in listed]
        more = len(uids) > page * folders.PAGE_SIZE
        return render_template("queue.html", folder=folder, query=query, rows=rows, total=len(uids), page=page,
                               next_url=url_for("queue", folder=folder, q=query, page=page + 1) if more else None)

    @app.get("/review")
    def review() -> BaseResponse:
        return redirect(url_for("queue", folder=taxonomy.needs_review_folder))

    @app.get("/message")
    def message() -> ViewResult:
        folder, uid = _folder_uid(request.args, known_folders)
        with imap() as mailbox:
            view = message_view(mailbox, ledger, settings, taxonomy, folder, uid)
        if view is None:
            abort(404)
        return render_template("message.html", view=view, folder=folder, uid=uid)

    @app.get("/corrections")
    def corrections() -> ViewResult:
        recent = list(reversed(CorrectionLog(ledger).all()))[:200]
        return render_template("corrections.html", corrections=recent)

    # --- actions ----------------------------------------------------------------------------------------

    @app.post("/message/reroute")
    def reroute_message() -> ViewResult:
        folder, uid = _folder_uid(request.form, known_folders)
        label = request.form.get("label", "")
        try:
            with imap() as mailbox:
                located = locate(mailbox, ledger, folder, uid)
                correction = reroute(mailbox, ledger, taxonomy, located, label, g.user)
        except ActionError as exc:
            flash(str(exc), "error")
            return redirect(url_for("message", folder=folder, uid=uid))
        flash(f"Moved to {correction.to_queue}; correction recorded ({', '.join(correction.from_labels) or '-'} "
              f"→ {label}).", "ok")
        return redirect(url_for("queue", folder=folder))

    @app.post("/message/send-reply")
    def send_reply() -> ViewResult:
        folder, uid = _folder_uid(request.form, known_folders)
        try:
            with imap() as mailbox:
                located = locate(mailbox, ledger, folder, uid)
                outcome = send_suggested_reply(settings, mailbox, ledger, Outbox(settings.smtp), taxonomy,
                                               located, g.user)
        except ActionError as exc:
            flash(str(exc), "error")
        else:
            flash(f"Reply: {outcome}", "ok")
        return redirect(url_for("message", folder=folder, uid=uid))

    return app


def _folder_uid(values: Any, known: tuple[str, ...]) -> tuple[str, int]:
    folder = values.get("folder", "")
    try:
        uid = int(values.get("uid", ""))
    except ValueError:
        abort(404)
    if folder not in known or uid <= 0:
        abort(404)
    return folder, uid


def _safe_next(target: str | None) -> str:
    """Only a local path: an open redirect after login would help phishing (OWASP Unvalidated Redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _age(then: datetime | None, now: datetime | None = None) -> str:
    if then is None:
        return "–"
    seconds = max(0, int(((now or datetime.now(UTC)) - then).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def _scan_loop(settings: Settings, taxonomy: Taxonomy, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        try:
            found = scan_once(settings, taxonomy)
            if found:
                log.info("correction scan: %d mail(s) moved by staff in mail clients", len(found))
        except Exception:  # keep scanning after any failure; the next cycle may succeed
            log.exception("correction scan failed")


def serve() -> int:
    """`python -m worker dashboard`: the app under waitress, plus the periodic correction scan."""
    try:
        settings = Settings.from_env()
        dashboard = DashboardSettings.from_env()
    except SettingsError as exc:
        print(f"python -m worker dashboard: {exc}", file=sys.stderr)
        return 2
    from worker.logs import configure

    configure(json_lines=settings.log_json)
    taxonomy = load_taxonomy(dashboard.taxonomy_path)
    app = create_app(settings, dashboard, taxonomy)
    stop = threading.Event()
    # Fold the event log once before the first page or scrape asks (seconds for a long log, see tally.py).
    threading.Thread(target=app.extensions["router_event_feed"].refresh, name="event-fold", daemon=True).start()
    if dashboard.scan_interval > 0:
        threading.Thread(target=_scan_loop, args=(settings, taxonomy, dashboard.scan_interval, stop),
                         name="correction-scan", daemon=True).start()
    from waitress import serve as waitress_serve

    log.info("dashboard on http://%s:%d/", dashboard.host, dashboard.port)
    try:
        waitress_serve(app, host=dashboard.host, port=dashboard.port, threads=8, ident="router-dashboard")
    finally:
        stop.set()
    return 0

