"""The SMTP edge: `Outbox.send()` hands one reply to the submission server and says what is known about it.

A failure before DATA means the server has not taken the message: safe to retry. A failure while
waiting for the reply to DATA leaves the state unknown (RFC 5321 section 4.5.4.1 / mail-safety.md G):
the server may have queued it, so we never resend; the attempt is recorded as "uncertain" for staff.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from enum import Enum

from worker.oauth import TokenSource, xoauth2_string
from worker.settings import OAuthSettings, SmtpSettings


class SendOutcome(Enum):
    SENT = "sent"
    UNCERTAIN = "uncertain"  # DATA may have been accepted: do not resend


class SendDeferred(RuntimeError):
    """The server did not take the message (connection failure or 4xx before DATA): retry later."""


class SendRejected(RuntimeError):
    """The server refused the message permanently (5xx): do not retry; staff must look."""


class Outbox:
    """Submits replies over one kept-open SMTP connection per process (one transaction after another,
    RFC 5321 section 3.3), reconnecting when the server has closed it in between."""

    def __init__(self, settings: SmtpSettings, tokens: TokenSource | None = None) -> None:
        self.settings = settings
        self._tokens = tokens
        self._kept: smtplib.SMTP | None = None

    def send(self, message: EmailMessage, envelope_from: str = "", payload: bytes | None = None) -> SendOutcome:
        """Send with the null reverse-path by default (RFC 3834 section 3.3: replies must not bounce back).

        `payload` is the message already serialised with `wire_bytes`, for a caller that also stores it.
        """
        recipients = [str(message["To"])]
        smtp, reused = (self._kept, True) if self._kept is not None else (self._fresh(), False)
        self._kept = None
        keep = False
        try:
            try:
                try:
                    smtp.ehlo_or_helo_if_needed()
                    code, reply = smtp.mail(envelope_from)
                except (OSError, smtplib.SMTPServerDisconnected):
                    if not reused:
                        raise
                    # The kept connection was closed by the server while idle; nothing was sent on it yet.
                    _discard(smtp)
                    smtp = self._fresh()
                    smtp.ehlo_or_helo_if_needed()
                    code, reply = smtp.mail(envelope_from)
                if code != 250:
                    raise _refusal(code, reply, "MAIL FROM")
                code, reply = smtp.rcpt(recipients[0])
                if code not in (250, 251):
                    raise _refusal(code, reply, "RCPT TO")
            except (OSError, smtplib.SMTPServerDisconnected) as exc:
                raise SendDeferred(f"connection lost before DATA: {exc}") from exc
            if payload is None:
                payload = wire_bytes(message)
            try:
                code, reply = smtp.data(payload)
            except smtplib.SMTPDataError as exc:
                raise _refusal(exc.smtp_code, exc.smtp_error, "DATA") from exc
            except (OSError, smtplib.SMTPServerDisconnected):
                return SendOutcome.UNCERTAIN
            if code != 250:
                raise _refusal(code, reply, "DATA")
            keep = True
            return SendOutcome.SENT
        finally:
            if keep:
                self._kept = smtp
            else:
                _discard(smtp)

    def close(self) -> None:
        if self._kept is not None:
            _discard(self._kept)
            self._kept = None

    def _fresh(self) -> smtplib.SMTP:
        try:
            return self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise SendDeferred(f"cannot connect to {self.settings.host}:{self.settings.port}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        smtp: smtplib.SMTP
        if settings.tls == "ssl":
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
            if settings.tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if settings.oauth is not None and settings.user:
            # SMTP AUTH XOAUTH2 (Microsoft 365 and Gmail submission); the token is refreshed when due.
            smtp.ehlo_or_helo_if_needed()
            auth = xoauth2_string(settings.user, self._token_source(settings.oauth).access_token())
            smtp.auth("XOAUTH2", lambda challenge=None: auth, initial_response_ok=True)
        elif settings.user and settings.password:
            smtp.login(settings.user, settings.password.reveal())
        return smtp

    def _token_source(self, oauth: OAuthSettings) -> TokenSource:
        if self._tokens is None:
            self._tokens = TokenSource(oauth, timeout=self.settings.timeout)
        return self._tokens


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as it goes over the wire (CRLF line ends), for DATA and for an IMAP APPEND alike:
    serialising a reply costs as much as sending it, so a caller that needs both passes it to `send`."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def _discard(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _refusal(code: int, reply: bytes | str, stage: str) -> Exception:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    if 400 <= code < 500:
        return SendDeferred(f"{stage} deferred: {code} {text}")
    return SendRejected(f"{stage} rejected: {code} {text}")
