"""Where alerts go: e-mail over SMTP and a Slack-compatible incoming webhook, by settings.

:class:`AlertsResource` sends one message to every configured channel. A channel that fails
(the mail server refusing, the webhook answering 5xx or timing out) is retried a bounded
number of times with exponential backoff and then logged: sending never raises, so an alert
can never fail the run or the sensor tick that raised it. With no channel configured the
alerts are off: each message is only logged.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import backoff
import httpx
from dagster import ConfigurableResource, get_dagster_logger

from data_platform.core.errors import redact
from data_platform.core.urls import webhook_secret

# An alert is worth a few seconds of retries, not a stuck sensor tick (ticks time out at 60 s).
DEFAULT_ATTEMPTS = 3
DEFAULT_TIMEOUT_SECONDS = 5.0


class AlertsResource(ConfigurableResource):
    """The alert channels: mail when ``smtp_url`` and ``email_to`` (comma-separated) are set,
    a webhook (``POST {"text": ...}``) when ``webhook_url`` is; ``ui_url`` is the Dagster UI
    the messages link to, ``state_dir`` the folder of the open incidents. Each channel gets ``attempts`` tries of ``timeout_seconds``."""

    smtp_url: str = ""
    email_to: str = ""
    email_from: str = "data-platform@localhost"
    webhook_url: str = ""
    ui_url: str = "http://127.0.0.1:3000"
    # The open incidents' folder ($DATA_PLATFORM_HOME/alerts; data_platform/alerts/incidents.py).
    state_dir: str
    attempts: int = DEFAULT_ATTEMPTS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    @property
    def recipients(self) -> list[str]:
        return [part.strip() for part in self.email_to.split(",") if part.strip()]

    @property
    def channels(self) -> list[str]:
        """The configured channels' names (``email``, ``webhook``); empty = alerts off."""
        return [
            name
            for name, on in (
                ("email", bool(self.smtp_url and self.recipients)),
                ("webhook", bool(self.webhook_url)),
            )
            if on
        ]

    def send(self, subject: str, text: str) -> dict[str, bool]:
        """Send ``subject`` (one line) and ``text`` (whose first line is ``subject``) to every
        channel; by channel, whether it was delivered. Never raises: failures are logged."""
        log = get_dagster_logger("data_platform.alerts")
        if not self.channels:
            log.info("alerts off (no channel configured): %s", subject)
            return {}
        senders = {"email": self._send_mail, "webhook": self._post_webhook}
        outcome = {}
        for name in self.channels:
            retrying = backoff.on_exception(
                backoff.expo,
                Exception,
                max_tries=max(1, self.attempts),
                factor=0.5,
                max_value=4,
                logger=None,
                on_backoff=lambda d, n=name: log.warning(
                    "alert channel %s failed (try %d): %s",
                    n,
                    d["tries"],
                    self._shown(d["exception"]),
                ),
            )(senders[name])
            try:
                retrying(subject, text)
                outcome[name] = True
            except Exception as error:  # noqa: BLE001 - an alert never fails the caller
                log.error(
                    "alert channel %s failed after %d tries, alert not delivered: %s: %s "
                    "(alert: %s)",
                    name,
                    max(1, self.attempts),
                    type(error).__name__,
                    self._shown(error),
                    subject,
                )
                outcome[name] = False
        return outcome

    def _shown(self, error: BaseException) -> str:
        """``error`` as a log line may quote it: the webhook's secret path (HTTP errors quote
        the URL) and URL passwords as ``***``."""
        secret = webhook_secret(self.webhook_url) if self.webhook_url else ""
        return redact(str(error), [secret] if secret else [])

    def _send_mail(self, subject: str, text: str) -> None:
        parts = urlsplit(self.smtp_url)
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.email_from
        message["To"] = ", ".join(self.recipients)
        message.set_content(text)
        host = parts.hostname or "localhost"
        if parts.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                host,
                parts.port or 465,
                timeout=self.timeout_seconds,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=self.timeout_seconds)
        with client:
            if parts.scheme == "smtp" and client.has_extn("starttls"):
                client.starttls(context=ssl.create_default_context())
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)

    def _post_webhook(self, subject: str, text: str) -> None:
        del subject  # the text's first line is the subject
        response = httpx.post(self.webhook_url, json={"text": text}, timeout=self.timeout_seconds)
        response.raise_for_status()
