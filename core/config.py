"""Settings: defaults, then an optional TOML file, then POSTROOM_* environment variables,
then explicit overrides (each later source wins).

Every setting is listed in SETTINGS with its variable and meaning; the README's
configuration table is checked against this list by a test.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import tomllib
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import attrs
import platformdirs
from stdnum.eu import at_02

from postroom.core.errors import ConfigurationError
from postroom.core.files import private_dir, tighten

ENVIRONMENTS = ("development", "production")

# name -> (environment variable, meaning)
SETTINGS: dict[str, tuple[str, str]] = {
    "config_file": ("POSTROOM_CONFIG", "path of an optional TOML settings file"),
    "env": ("POSTROOM_ENV", "`development` (default) or `production`"),
    "data_dir": (
        "POSTROOM_DATA_DIR",
        "where the embedded database, generated secret and job queue live "
        "(default: the per-user data directory)",
    ),
    "database_url": (
        "POSTROOM_DATABASE_URL",
        "SQLAlchemy URL of the store (default: SQLite file `postroom.db` in the data directory)",
    ),
    "secret_key": (
        "POSTROOM_SECRET_KEY",
        "signs sessions and tokens; required in production, generated and kept in the "
        "data directory otherwise",
    ),
    "ledger_key": (
        "POSTROOM_LEDGER_KEY",
        "keys the ledger's hash chain (HMAC-SHA256), at least 32 characters; required in "
        "production, generated and kept in the data directory otherwise. Keep it outside "
        "the database and back it up: without it verify cannot check the ledger",
    ),
    "plugins": (
        "POSTROOM_PLUGINS",
        "comma-separated allowlist of plugin names to load (default: every installed plugin)",
    ),
    "redis_url": (
        "POSTROOM_REDIS_URL",
        "Redis URL for the background-job broker (default: SQLite file in the data directory)",
    ),
    "log_level": ("POSTROOM_LOG_LEVEL", "DEBUG, INFO (default), WARNING or ERROR"),
    "metrics_token": (
        "POSTROOM_METRICS_TOKEN",
        "bearer token that lets a remote client read /metrics (Prometheus); loopback "
        "clients read it without one",
    ),
    "default_locale": ("POSTROOM_DEFAULT_LOCALE", "portal language when none is chosen: en or fr"),
    "meter_inspection_due_days": (
        "POSTROOM_METER_INSPECTION_DUE_DAYS",
        "days after its last data-center contact a meter is due for inspection (default 90)",
    ),
    "meter_inspection_lock_days": (
        "POSTROOM_METER_INSPECTION_LOCK_DAYS",
        "days after its last data-center contact a meter stops printing (default 120)",
    ),
    "meter_inspection_warning_days": (
        "POSTROOM_METER_INSPECTION_WARNING_DAYS",
        "days before that deadline the customer is warned (default 14)",
    ),
    "refund_window_days": (
        "POSTROOM_REFUND_WINDOW_DAYS",
        "days after the indicium date a metered-postage refund may be asked (default 60)",
    ),
    "refund_fee_percent": (
        "POSTROOM_REFUND_FEE_PERCENT",
        "refund fee in percent of the face value up to the threshold (default 10)",
    ),
    "refund_fee_threshold": (
        "POSTROOM_REFUND_FEE_THRESHOLD",
        "total face value up to which the percentage applies (default 350.00)",
    ),
    "refund_fixed_fee": (
        "POSTROOM_REFUND_FIXED_FEE",
        "refund fee above the threshold (default 35.00)",
    ),
    "virtual_meter_key": (
        "POSTROOM_VIRTUAL_METER_KEY",
        "encrypts the data center's virtual-meter signing keys at rest; required in "
        "production, derived from the secret key otherwise",
    ),
    "kiosk_account": (
        "POSTROOM_KIOSK_ACCOUNT",
        "customer account number the kiosk prints postage for (unset: the kiosk only prices)",
    ),
    "kiosk_origin_zip": (
        "POSTROOM_KIOSK_ORIGIN_ZIP",
        "ZIP or postal code of the kiosk's mailroom, printed in its indicia",
    ),
    "kiosk_enabled": (
        "POSTROOM_KIOSK_ENABLED",
        "`1` serves the kiosk pages (/kiosk) in production too (default: development only)",
    ),
    "kiosk_idle_seconds": (
        "POSTROOM_KIOSK_IDLE_SECONDS",
        "seconds without a touch after which a kiosk operator is signed out (default 60)",
    ),
    "kiosk_print_rate_limit": (
        "POSTROOM_KIOSK_PRINT_RATE_LIMIT",
        "prints allowed per kiosk (client address), e.g. `20/minute` (default)",
    ),
    "api_rate_limit_per_key": (
        "POSTROOM_API_RATE_LIMIT_PER_KEY",
        "JSON API requests allowed per API key, e.g. `600/minute` (default)",
    ),
    "track_lookup_rate_limit": (
        "POSTROOM_TRACK_LOOKUP_RATE_LIMIT",
        "public tracking look-ups (/track) allowed per client address, e.g. `30/minute` "
        "(default): nobody walks the number space",
    ),
    "api_rate_limit_per_address": (
        "POSTROOM_API_RATE_LIMIT_PER_ADDRESS",
        "JSON API requests allowed per client address, e.g. `1200/minute` (default)",
    ),
    "allow_sandbox_payments": (
        "POSTROOM_ALLOW_SANDBOX_PAYMENTS",
        "1 lets sandbox payment sources (sandbox-card) serve in production, with a "
        "warning at start; they are refused there otherwise",
    ),
    "session_idle_minutes": (
        "POSTROOM_SESSION_IDLE_MINUTES",
        "minutes without a request after which a portal session ends (default 30)",
    ),
    "session_absolute_hours": (
        "POSTROOM_SESSION_ABSOLUTE_HOURS",
        "hours after sign-in a portal session ends however busy (default 12)",
    ),
    "public_url": (
        "POSTROOM_PUBLIC_URL",
        "the portal's address as people reach it, for the links in emails "
        "(default http://localhost:8000)",
    ),
    "smtp_host": (
        "POSTROOM_SMTP_HOST",
        "SMTP server that sends email (unset: email is kept in the `mail` maildir of the "
        "data directory, listed by `postroom mail outbox`)",
    ),
    "smtp_port": (
        "POSTROOM_SMTP_PORT",
        "SMTP port (default: 587 with starttls, 465 with tls, 25 with none)",
    ),
    "smtp_security": (
        "POSTROOM_SMTP_SECURITY",
        "`starttls` (default), `tls` (implicit TLS) or `none`; the server's certificate "
        "is verified with TLS",
    ),
    "smtp_username": (
        "POSTROOM_SMTP_USERNAME",
        "SMTP login (unset: no authentication); refused with security `none` except to a "
        "loopback server",
    ),
    "smtp_password": ("POSTROOM_SMTP_PASSWORD", "SMTP password"),
    "smtp_timeout": (
        "POSTROOM_SMTP_TIMEOUT",
        "seconds to wait for the SMTP server before the attempt fails and is retried (default 30)",
    ),
    "smtp_ca_file": (
        "POSTROOM_SMTP_CA_FILE",
        "PEM file of the certificate authorities that the SMTP server's certificate is "
        "checked against (default: the system's)",
    ),
    "mail_from": (
        "POSTROOM_MAIL_FROM",
        "From of postroom's email, e.g. `Acme Postage <postage@acme.example>` "
        "(default `postroom <postroom@localhost>`)",
    ),
    "mail_data_center": (
        "POSTROOM_MAIL_DATA_CENTER",
        "email address of the data center's staff: meter alerts go there (unset: "
        "they are only logged)",
    ),
    "webhooks_allow_private": (
        "POSTROOM_WEBHOOKS_ALLOW_PRIVATE",
        "`1` lets tracking webhooks reach loopback and private addresses (development and "
        "tests only; refused otherwise)",
    ),
    "carrier_timeout": (
        "POSTROOM_CARRIER_TIMEOUT",
        "seconds to wait for a carrier's tracking API before the attempt fails and is "
        "retried (default 10)",
    ),
    "usps_api_url": ("POSTROOM_USPS_API_URL", "USPS APIs base URL (default https://apis.usps.com)"),
    "usps_client_id": ("POSTROOM_USPS_CLIENT_ID", "USPS APIs OAuth client id (tracking)"),
    "usps_client_secret": ("POSTROOM_USPS_CLIENT_SECRET", "USPS APIs OAuth client secret"),
    "ups_api_url": (
        "POSTROOM_UPS_API_URL",
        "UPS APIs base URL (default https://onlinetools.ups.com)",
    ),
    "ups_client_id": ("POSTROOM_UPS_CLIENT_ID", "UPS OAuth client id (Track API)"),
    "ups_client_secret": ("POSTROOM_UPS_CLIENT_SECRET", "UPS OAuth client secret"),
    "canadapost_api_url": (
        "POSTROOM_CANADAPOST_API_URL",
        "Canada Post web services base URL (default https://soa-gw.canadapost.ca)",
    ),
    "canadapost_username": ("POSTROOM_CANADAPOST_USERNAME", "Canada Post API key's user name"),
    "canadapost_password": ("POSTROOM_CANADAPOST_PASSWORD", "Canada Post API key's password"),
    "laposte_api_url": (
        "POSTROOM_LAPOSTE_API_URL",
        "La Poste Okapi base URL (default https://api.laposte.fr)",
    ),
    "laposte_api_key": ("POSTROOM_LAPOSTE_API_KEY", "La Poste Suivi API key (X-Okapi-Key)"),
    "fedex_api_url": (
        "POSTROOM_FEDEX_API_URL",
        "FedEx APIs base URL (default https://apis.fedex.com)",
    ),
    "fedex_client_id": ("POSTROOM_FEDEX_CLIENT_ID", "FedEx OAuth client id (Track API key)"),
    "fedex_client_secret": ("POSTROOM_FEDEX_CLIENT_SECRET", "FedEx OAuth client secret"),
    "dhl_api_url": (
        "POSTROOM_DHL_API_URL",
        "DHL Shipment Tracking - Unified API base URL (default https://api-eu.dhl.com)",
    ),
    "dhl_api_key": ("POSTROOM_DHL_API_KEY", "DHL Shipment Tracking API key (DHL-API-Key)"),
    "health_token": (
        "POSTROOM_HEALTH_TOKEN",
        "bearer token that shows /healthz's details (version, plugins, database, worker) "
        "to a remote client; loopback clients see them without it",
    ),
    "billing_seller_name": (
        "POSTROOM_BILLING_SELLER_NAME",
        "who is printed as the seller on invoices, and names the SEPA and ACH mandates",
    ),
    "billing_seller_address": (
        "POSTROOM_BILLING_SELLER_ADDRESS",
        "the seller's address on invoices, lines separated by a vertical bar",
    ),
    "billing_seller_tax_id": ("POSTROOM_BILLING_SELLER_TAX_ID", "the seller's tax ID on invoices"),
    "billing_tax_file": (
        "POSTROOM_BILLING_TAX_FILE",
        "a TOML tax table replacing the built-in one (docs/billing.md)",
    ),
    "billing_creditor_id": (
        "POSTROOM_BILLING_CREDITOR_ID",
        "the SEPA creditor identifier (AT-02) the portal's SEPA mandates name; empty: "
        "SEPA direct debit is not offered in the portal",
    ),
    "case_reopen_days": (
        "POSTROOM_CASE_REOPEN_DAYS",
        "days after a support case is resolved in which the customer's reply reopens it; "
        "later, a reply opens a follow-up case (default 7)",
    ),
    "case_first_response_hours": (
        "POSTROOM_CASE_FIRST_RESPONSE_HOURS",
        "business hours to a case's first response by priority "
        "(default `urgent=2,high=4,normal=8,low=16`)",
    ),
    "case_resolution_hours": (
        "POSTROOM_CASE_RESOLUTION_HOURS",
        "business hours to a case's resolution by priority "
        "(default `urgent=8,high=16,normal=40,low=80`)",
    ),
    "case_warning_minutes": (
        "POSTROOM_CASE_WARNING_MINUTES",
        "business minutes before an SLA deadline the case's assignee is warned (default 60)",
    ),
    "cases_mail_per_hour": (
        "POSTROOM_CASES_MAIL_PER_HOUR",
        "emails one sender may send to support in an hour before further ones are kept "
        "for staff without opening cases (told once; default 20)",
    ),
    "cases_mail_max_bytes": (
        "POSTROOM_CASES_MAIL_MAX_BYTES",
        "largest inbound support email taken, in bytes (default 26214400, 25 MiB)",
    ),
    "cases_attachment_max_bytes": (
        "POSTROOM_CASES_ATTACHMENT_MAX_BYTES",
        "largest file attached to a case, in bytes (default 10485760, 10 MiB)",
    ),
}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SMTP_SECURITY = ("starttls", "tls", "none")
SMTP_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
LOCALES = ("en", "fr")
SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
LEDGER_KEY_FILE = "ledger_key"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("postroom", appauthor=False))


def _flag(value: Any) -> bool:
    """A yes/no setting: from TOML a boolean, from the environment 1/0, true/false, yes/no."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{value!r} is not a yes/no setting (use 1 or 0)")


def _plugins(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",")]
    elif isinstance(value, list | tuple):
        names = [str(part).strip() for part in value]
    else:
        raise ConfigurationError("plugins must be a comma-separated list of names")
    return tuple(name for name in names if name)


@attrs.frozen
class Config:
    env: str = attrs.field(default="development", validator=attrs.validators.in_(ENVIRONMENTS))
    data_dir: Path = attrs.field(factory=_default_data_dir, converter=Path)
    database_url: str | None = None
    secret_key: str | None = attrs.field(default=None, repr=False)
    ledger_key: str | None = attrs.field(default=None, repr=False)
    plugins: tuple[str, ...] | None = attrs.field(default=None, converter=_plugins)
    redis_url: str | None = None
    log_level: str = attrs.field(default="INFO", validator=attrs.validators.in_(LOG_LEVELS))
    metrics_token: str | None = attrs.field(default=None, repr=False)
    default_locale: str = attrs.field(default="en", validator=attrs.validators.in_(LOCALES))
    config_file: Path | None = None
    meter_inspection_due_days: int = attrs.field(default=90, converter=int)
    meter_inspection_lock_days: int = attrs.field(default=120, converter=int)
    meter_inspection_warning_days: int = attrs.field(default=14, converter=int)
    # refunds of metered postage (docs/vault.md "Refunds"); checked when postroom opens
    refund_window_days: int | str = 60
    refund_fee_percent: str = attrs.field(default="10", converter=str)
    refund_fee_threshold: str = attrs.field(default="350.00", converter=str)
    refund_fixed_fee: str = attrs.field(default="35.00", converter=str)
    virtual_meter_key: str | None = attrs.field(default=None, repr=False)
    kiosk_account: str | None = None
    kiosk_origin_zip: str | None = None
    kiosk_enabled: bool = attrs.field(default=False, converter=_flag)
    kiosk_idle_seconds: int = attrs.field(default=60, converter=int)
    # rate limits in the notation of the `limits` library ("20/minute", "5 per second")
    kiosk_print_rate_limit: str = "20/minute"
    api_rate_limit_per_key: str = "600/minute"
    api_rate_limit_per_address: str = "1200/minute"
    track_lookup_rate_limit: str = "30/minute"
    allow_sandbox_payments: bool = attrs.field(default=False, converter=_flag)
    health_token: str | None = attrs.field(default=None, repr=False)
    session_idle_minutes: int = attrs.field(default=30, converter=int)
    session_absolute_hours: int = attrs.field(default=12, converter=int)
    public_url: str = attrs.field(default="http://localhost:8000")

    # outgoing email (docs/notifications.md "Email"); no host: the local maildir
    smtp_host: str | None = None
    smtp_port: int | None = attrs.field(default=None, converter=attrs.converters.optional(int))
    smtp_security: str = attrs.field(
        default="starttls", validator=attrs.validators.in_(SMTP_SECURITY)
    )
    smtp_username: str | None = attrs.field(default=None)
    smtp_password: str | None = attrs.field(default=None, repr=False)
    smtp_timeout: int = attrs.field(default=30, converter=int)
    smtp_ca_file: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    mail_from: str = attrs.field(default="postroom <postroom@localhost>")
    mail_data_center: str | None = None
    # the email channel of support cases (docs/cases-email.md)
    cases_mail_per_hour: int = attrs.field(default=20, converter=int)
    cases_mail_max_bytes: int = attrs.field(default=25 * 1024 * 1024, converter=int)
    cases_attachment_max_bytes: int = attrs.field(default=10 * 1024 * 1024, converter=int)

    @cases_mail_per_hour.validator
    @cases_mail_max_bytes.validator
    @cases_attachment_max_bytes.validator
    def _positive_mail_limit(self, attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"{attribute.name} must be at least 1")

    # carriers' tracking APIs (docs/tracking.md); credentials are never shown or logged
    carrier_timeout: int = attrs.field(default=10, converter=int)
    webhooks_allow_private: bool = attrs.field(default=False, converter=_flag)
    usps_api_url: str = "https://apis.usps.com"
    usps_client_id: str | None = attrs.field(default=None, repr=False)
    usps_client_secret: str | None = attrs.field(default=None, repr=False)
    ups_api_url: str = "https://onlinetools.ups.com"
    ups_client_id: str | None = attrs.field(default=None, repr=False)
    ups_client_secret: str | None = attrs.field(default=None, repr=False)
    canadapost_api_url: str = "https://soa-gw.canadapost.ca"
    canadapost_username: str | None = attrs.field(default=None, repr=False)
    canadapost_password: str | None = attrs.field(default=None, repr=False)
    laposte_api_url: str = "https://api.laposte.fr"
    laposte_api_key: str | None = attrs.field(default=None, repr=False)
    fedex_api_url: str = "https://apis.fedex.com"
    fedex_client_id: str | None = attrs.field(default=None, repr=False)
    fedex_client_secret: str | None = attrs.field(default=None, repr=False)
    dhl_api_url: str = "https://api-eu.dhl.com"
    dhl_api_key: str | None = attrs.field(default=None, repr=False)

    # support cases (docs/cases.md "SLAs"); the targets are checked when postroom opens
    case_reopen_days: int = attrs.field(default=7, converter=int)
    case_first_response_hours: str = "urgent=2,high=4,normal=8,low=16"
    case_resolution_hours: str = "urgent=8,high=16,normal=40,low=80"
    case_warning_minutes: int = attrs.field(default=60, converter=int)

    @case_reopen_days.validator
    def _reopen_days(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if not 0 <= value <= 365:
            raise ValueError("case_reopen_days must be 0 to 365")

    @case_warning_minutes.validator
    def _warning_minutes(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if not 1 <= value <= 24 * 60:
            raise ValueError("case_warning_minutes must be 1 to 1440")

    # billing (docs/billing.md): who is printed as the seller, and the tax table
    billing_seller_name: str = "postroom data center"
    billing_seller_address: str = ""  # lines separated by "|"
    billing_seller_tax_id: str = ""
    billing_tax_file: Path | None = attrs.field(
        default=None, converter=attrs.converters.optional(Path)
    )
    # the SEPA creditor identifier (AT-02) the data center collects under; empty: the
    # portal does not offer SEPA direct debit
    billing_creditor_id: str = attrs.field(default="")

    @billing_creditor_id.validator
    def _creditor_id(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if value and not at_02.is_valid(value):
            raise ValueError("billing_creditor_id is not a valid SEPA creditor identifier")

    @session_idle_minutes.validator
    def _positive_idle_minutes(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError("session_idle_minutes must be at least 1")

    @session_absolute_hours.validator
    def _positive_absolute(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError("session_absolute_hours must be at least 1")

    @public_url.validator
    def _web_address(self, _attribute: attrs.Attribute[str], value: str) -> None:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must start with http:// or https://")

    @kiosk_idle_seconds.validator
    def _positive_idle(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError("kiosk_idle_seconds must be at least 1")

    @smtp_port.validator
    def _port(self, _attribute: attrs.Attribute[int | None], value: int | None) -> None:
        if value is not None and not 1 <= value <= 65535:
            raise ValueError("smtp_port must be 1 to 65535")

    @smtp_timeout.validator
    def _positive_timeout(self, _attribute: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError("smtp_timeout must be at least 1")

    @smtp_username.validator
    def _no_password_in_clear(
        self, _attribute: attrs.Attribute[str | None], value: str | None
    ) -> None:
        # A login over a plain connection gives the password to anyone on the path.
        if value and self.smtp_security == "none" and self.smtp_host not in LOOPBACK_HOSTS:
            raise ValueError(
                "smtp_username needs smtp_security starttls or tls (the password would "
                "cross the network in clear)"
            )

    @mail_from.validator
    def _sender(self, _attribute: attrs.Attribute[str], value: str) -> None:
        address = parseaddr(value)[1]
        if "\r" in value or "\n" in value or "@" not in address:
            raise ValueError(f"mail_from {value!r} is not an email address")

    @property
    def smtp_resolved_port(self) -> int:
        """The SMTP port: the setting, else the usual one for the security chosen."""
        return self.smtp_port or SMTP_DEFAULT_PORTS[self.smtp_security]

    @property
    def kiosk_served(self) -> bool:
        """Whether the kiosk pages are mounted: production serves them only when told."""
        return self.kiosk_enabled or not self.production

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def sandbox_payments_allowed(self) -> bool:
        """Whether sandbox payment sources may take payments: always outside production,
        in production only when explicitly allowed."""
        return not self.production or self.allow_sandbox_payments

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'postroom.db'}"

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Config:
        """Build the settings from the TOML file, the environment and ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        file_path = overrides.get("config_file") or environ.get("POSTROOM_CONFIG")
        if file_path:
            values.update(_read_toml(Path(file_path)))
            values["config_file"] = Path(file_path)
        for name, (variable, _meaning) in SETTINGS.items():
            if name != "config_file" and environ.get(variable):
                values[name] = environ[variable]
        values.update({key: value for key, value in overrides.items() if value is not None})
        if "log_level" in values:
            values["log_level"] = str(values["log_level"]).upper()
        unknown = set(values) - {field.name for field in attrs.fields(cls)}
        if unknown:
            raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        try:
            return cls(**values)
        except ValueError as error:
            raise ConfigurationError(f"invalid setting: {error}") from error

    def ensure_data_dir(self) -> Path:
        """Create the data directory if needed (0700, an existing one tightened) and check
        that it is writable."""
        try:
            private_dir(self.data_dir)
        except OSError as error:
            raise ConfigurationError(
                f"cannot create data directory {self.data_dir}: {error.strerror}"
            ) from error
        # Probe with a real file: permission bits say nothing of a read-only mount.
        try:
            with tempfile.NamedTemporaryFile(dir=self.data_dir, prefix=".write-probe-"):
                pass
        except OSError as error:
            raise ConfigurationError(
                f"data directory {self.data_dir} is not writable: {error.strerror}"
            ) from error
        return self.data_dir

    def resolved_secret_key(self) -> str:
        """The secret key; in development one is generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        if self.production:
            raise ConfigurationError("POSTROOM_SECRET_KEY must be set in production")
        return self._generated(SECRET_FILE)

    def resolved_ledger_key(self) -> str:
        """The key of the ledger's hash chain. Never stored in the database: in
        production it must come from the environment (or the settings file); otherwise
        one is generated once and kept, mode 0600, in the data directory."""
        if self.ledger_key:
            return self.ledger_key
        if self.production:
            raise ConfigurationError(
                "POSTROOM_LEDGER_KEY must be set in production", code="ledger_key_missing"
            )
        return self._generated(LEDGER_KEY_FILE)

    def _generated(self, name: str) -> str:
        """The secret kept in file ``name`` of the data directory, generated on first use."""
        path = self.ensure_data_dir() / name
        tighten(path)  # kept by an older version, maybe readable by others
        try:
            existing = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            existing = ""
        except OSError as error:
            raise ConfigurationError(f"cannot read {path}: {error.strerror}") from error
        if existing:
            return existing
        secret = secrets.token_urlsafe(48)
        try:
            # O_EXCL: two processes starting together keep whichever secret came first.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text(encoding="ascii").strip()
        except OSError as error:
            raise ConfigurationError(f"cannot write {path}: {error.strerror}") from error
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret)
        return secret

    def resolved_virtual_meter_key(self) -> str:
        """The key-encryption secret of the virtual meters' signing keys.

        In development it is derived from the secret key (one secret to keep); in
        production it must be set on its own, so that the database and the session
        secret leaking together still do not give away the signing keys.
        """
        if self.virtual_meter_key:
            return self.virtual_meter_key
        if self.production:
            raise ConfigurationError("POSTROOM_VIRTUAL_METER_KEY must be set in production")
        return "derived-from-secret-key:" + self.resolved_secret_key()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as error:
        raise ConfigurationError(f"config file {path} does not exist") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"config file {path} is not valid TOML: {error}") from error
    except OSError as error:
        raise ConfigurationError(f"cannot read config file {path}: {error.strerror}") from error
    section = data.get("postroom", data)
    if not isinstance(section, dict):
        raise ConfigurationError(f"config file {path}: [postroom] must be a table")
    return dict(section)
