"""The sender's gateways: e-mail by SMTP, SMS through SMS.ru or SMS Aero's HTTP APIs (a face: the
network calls; what to send and what to record is followup.actions.sending's).

Each gateway's ``send(address, text)`` returns the provider's message id, or raises Refused (the
gateway said no: nothing went out, the entry may be tried again) or Unsure (no answer, or one that
makes no sense: the message may have gone out, so it is never resent by itself). Their codes are
the provider's or a word of ours, never a value of the message.

Secrets never go into the database, the settings or any output: they come from the environment
(FOLLOWUP_SMTP_PASSWORD, FOLLOWUP_SMS_KEY, FOLLOWUP_SMS_LOGIN) or from a secrets file readable by
its owner only (FOLLOWUP_SECRETS, else secrets.toml in the per-user configuration directory):
``smtp_password = "…"``, ``sms_key = "…"``, ``sms_login = "…"``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from followup.errors import UsageError
from followup.i18n import N_

TIMEOUT_S = 20
SMSRU_URL = "https://sms.ru"
SMSAERO_URL = "https://gate.smsaero.ru/v2"
SECRET_ENV = {"smtp_password": "FOLLOWUP_SMTP_PASSWORD", "sms_key": "FOLLOWUP_SMS_KEY",
              "sms_login": "FOLLOWUP_SMS_LOGIN"}


class Refused(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class Unsure(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def secrets_file() -> Path:
    from platformdirs import user_config_dir

    return Path(os.environ.get("FOLLOWUP_SECRETS") or Path(user_config_dir("followup", appauthor=False)) /
                "secrets.toml")


def secret(name: str) -> str | None:
    """A secret from the environment, else from the secrets file (refused if others can read it)."""
    if os.environ.get(SECRET_ENV[name]):
        return os.environ[SECRET_ENV[name]]
    path = secrets_file()
    if not path.exists():
        return None
    if os.name != "nt" and path.stat().st_mode & 0o077:
        raise UsageError(N_("the secrets file {path} can be read by others: chmod 600 it first"), path=path)
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise UsageError(N_("the secrets file {path} is not TOML (key = \"value\" lines)"), path=path) from None
    value = data.get(name)
    return str(value) if value else None


def gateway_for(channel: str, settings: dict):
    """The gateway of a channel as the settings describe it; a missing setting or secret is a usage error."""
    if channel == "email":
        return Email(settings)
    provider = settings.get("send.sms.provider") or "smsru"
    return SmsRu(settings) if provider == "smsru" else SmsAero(settings)


def _need(settings: dict, key: str) -> str:
    value = settings.get(key)
    if not value:
        raise UsageError(N_("set {key} first (followup config set {key} ...)"), key=key)
    return value


def _need_secret(name: str) -> str:
    value = secret(name)
    if not value:
        raise UsageError(N_("the secret {name} is missing: set {env} or put it in {path}"), name=name,
                         env=SECRET_ENV[name], path=secrets_file())
    return value


class Email:
    name = "smtp"

    def __init__(self, settings: dict):
        self.host = _need(settings, "send.email.host")
        self.port = int(settings.get("send.email.port") or 587)
        self.security = settings.get("send.email.security") or "starttls"
        self.sender = _need(settings, "send.email.from")
        self.user = settings.get("send.email.user") or None
        self.password = _need_secret("smtp_password") if self.user else None
        self.clinic = settings.get("clinic_name") or ""
        self.smtp = None

    def _connect(self):
        import smtplib
        import ssl

        try:
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT_S, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_S)
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password)
        except smtplib.SMTPAuthenticationError:
            raise Refused("smtp-login") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Refused(f"smtp-connect:{type(exc).__name__}") from None
        return smtp

    def send(self, address: str, text: str, subject: str) -> str:
        import smtplib
        from email.message import EmailMessage
        from email.utils import formataddr, make_msgid

        if self.smtp is None:
            self.smtp = self._connect()
        message = EmailMessage()
        message["From"] = formataddr((self.clinic, self.sender)) if self.clinic else self.sender
        message["To"] = address
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(text, charset="utf-8")
        try:
            refused = self.smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            raise Refused("smtp-recipient-refused") from None
        except smtplib.SMTPResponseException as exc:
            raise (Refused if 500 <= exc.smtp_code < 600 else Unsure)(f"smtp-{exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:  # cut off mid-message: it may have been taken
            self.smtp = None
            raise Unsure(f"smtp-{type(exc).__name__}") from None
        if refused:
            raise Refused("smtp-recipient-refused")
        return message["Message-ID"]

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except Exception:  # noqa: BLE001 (closing: nothing more to say)
                pass


def _http(url: str, params: dict, auth: tuple[str, str] | None = None) -> dict:
    """POST a form and read a JSON answer; Unsure when no answer comes or it is not JSON."""
    import base64
    import urllib.error
    import urllib.parse
    import urllib.request

    request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise Refused(f"http-{exc.code}") from None
        raise (Refused if 400 <= exc.code < 500 else Unsure)(f"http-{exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ConnectionRefusedError):
            raise Refused("connection-refused") from None  # nothing was sent
        raise Unsure(f"no-answer:{type(reason).__name__}") from None
    try:
        data = json.loads(body)
    except ValueError:
        raise Unsure("answer-not-json") from None
    if not isinstance(data, dict):
        raise Unsure("answer-not-json")
    return data


class SmsRu:
    """SMS.ru's HTTP API: /sms/send with api_id, to, msg, json=1 (and from: the sender name)."""

    name = "smsru"

    def __init__(self, settings: dict):
        self.url = (settings.get("send.sms.url") or SMSRU_URL).rstrip("/")
        self.key = _need_secret("sms_key")
        self.sender = settings.get("send.sms.sender") or None

    def send(self, address: str, text: str, subject: str = "") -> str:
        number = address.lstrip("+")
        params = {"api_id": self.key, "to": number, "msg": text, "json": 1}
        if self.sender:
            params["from"] = self.sender
        data = _http(f"{self.url}/sms/send", params)
        if data.get("status") != "OK":
            raise Refused(f"smsru-{data.get('status_code', '?')}")
        one = (data.get("sms") or {}).get(number)
        if not isinstance(one, dict):
            raise Unsure("smsru-no-status")
        if one.get("status") != "OK" or not one.get("sms_id"):
            raise Refused(f"smsru-{one.get('status_code', '?')}")
        return str(one["sms_id"])

    # SMS.ru's delivery codes: 100-102 on the way, 103 delivered (110: read), the others not delivered
    FATE = {103: "delivered", 110: "delivered", 104: "undelivered:expired", 105: "undelivered:rejected",
            106: "undelivered:unreachable", 107: "undelivered:unknown", 108: "undelivered:rejected",
            150: "undelivered:unreachable"}

    def status(self, provider_id: str) -> str:
        """'delivered', 'pending' or 'undelivered:CODE' (/sms/status)."""
        data = _http(f"{self.url}/sms/status", {"api_id": self.key, "sms_id": provider_id, "json": 1})
        one = (data.get("sms") or {}).get(provider_id) if data.get("status") == "OK" else None
        if not isinstance(one, dict):
            return "pending"
        return self.FATE.get(one.get("status_code"), "pending")

    def close(self) -> None:
        pass


class SmsAero:
    """SMS Aero's HTTP API v2: /sms/send with number, text, sign (basic auth: login e-mail, API key)."""

    name = "smsaero"

    def __init__(self, settings: dict):
        self.url = (settings.get("send.sms.url") or SMSAERO_URL).rstrip("/")
        self.auth = (_need_secret("sms_login"), _need_secret("sms_key"))
        self.sender = settings.get("send.sms.sender") or "SMS Aero"

    def send(self, address: str, text: str, subject: str = "") -> str:
        data = _http(f"{self.url}/sms/send", {"number": address.lstrip("+"), "text": text, "sign": self.sender},
                     auth=self.auth)
        if not data.get("success"):
            raise Refused("smsaero-refused")
        one = data.get("data") or {}
        if not isinstance(one, dict) or one.get("id") is None:
            raise Unsure("smsaero-no-id")
        return str(one["id"])

    # SMS Aero's statuses: 1 delivered; 2 not delivered; 6 rejected; 0, 3, 4, 8 on the way
    FATE = {1: "delivered", 2: "undelivered:unreachable", 6: "undelivered:rejected"}

    def status(self, provider_id: str) -> str:
        data = _http(f"{self.url}/sms/status", {"id": provider_id}, auth=self.auth)
        one = data.get("data") if data.get("success") else None
        if not isinstance(one, dict):
            return "pending"
        return self.FATE.get(one.get("status"), "pending")

    def close(self) -> None:
        pass
