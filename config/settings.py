"""Configuration, from environment variables only. The README's table is printed from here
(`facturier config`)."""

from __future__ import annotations

# Long: every variable of the platform in one table with its default and meaning, and the
# sections that read them, so that the configuration is read, documented and checked once.
import functools
import os
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from facturier.intake.safety import DEFAULT_LIMITS, MB, Limits

# Repository root when running from a checkout; only used for the local data folder.
_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("FACTURIER_PG_HOST", "127.0.0.1", "PostgreSQL host"),
    Setting("FACTURIER_PG_PORT", "5432", "PostgreSQL port"),
    Setting("FACTURIER_PG_USER", "facturier", "PostgreSQL role"),
    Setting("FACTURIER_PG_PASSWORD", "facturier", "PostgreSQL password"),
    Setting("FACTURIER_PG_DB", "facturier", "PostgreSQL database (event store and read models)"),
    Setting("FACTURIER_PG_POOL_SIZE", "8", "connections per process and pool"),
    Setting("FACTURIER_KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers"),
    Setting("FACTURIER_TOPIC", "invoice-lifecycle", "topic of invoice lifecycle events"),
    Setting("FACTURIER_TOPIC_PARTITIONS", "6", "partitions of that topic when created"),
    Setting("FACTURIER_FLOW_TOPIC", "invoice-flows", "topic of flow (deposit) events"),
    Setting(
        "FACTURIER_ACCESS_TOPIC",
        "access",
        "topic of account and organisation events (who may do what)",
    ),
    Setting("FACTURIER_FLOW_GROUP", "flow-intake", "consumer group processing received flows"),
    Setting(
        "FACTURIER_INTAKE_WORKERS",
        "0",
        "processes validating a flow's invoices; 0 = one per CPU core",
    ),
    Setting(
        "FACTURIER_MAX_UPLOAD_MB",
        "120",
        "largest flow upload (one file or archive), in MB",
    ),
    Setting(
        "FACTURIER_MAX_FILE_MB",
        "10",
        "largest invoice file: an XML, a PDF, a file inside an archive, in MB",
    ),
    Setting("FACTURIER_MAX_ARCHIVE_ENTRIES", "500", "most invoice files in one flow archive"),
    Setting(
        "FACTURIER_SIGNATURE_TRUST_ROOTS",
        "",
        "PEM file(s) of CAs trusted for signed PDFs, separated by `:`; empty: none",
    ),
    Setting(
        "FACTURIER_SIGNATURE_UNTRUSTED",
        "flag",
        "signed PDF whose certificate is not trusted: `flag` (accept, noted) or `reject`",
    ),
    Setting("FACTURIER_TOPIC_REPLICATION", "1", "replication factor when created"),
    Setting(
        "FACTURIER_TRACKING_GROUP", "tracking-projection", "consumer group of the tracking view"
    ),
    Setting(
        "FACTURIER_AUTHORISATION_GROUP",
        "authorisation",
        "consumer group of the authorisation projection (the access topic)",
    ),
    Setting(
        "FACTURIER_ACCOUNTING_GROUP",
        "accounting-journal",
        "consumer group of the accounting journal",
    ),
    Setting(
        "FACTURIER_PAYMENT_DELAYS_GROUP",
        "payment-delays",
        "consumer group of the payment-delay tracking",
    ),
    Setting(
        "FACTURIER_LATE_INTEREST_REFERENCE_RATE",
        "2.15",
        "late-payment interest: ECB main refinancing rate, percent (+ 8 points)",
    ),
    Setting("FACTURIER_ACCOUNT_EXPENSE", "604000", "accounting: expense account debited (net)"),
    Setting("FACTURIER_ACCOUNT_VAT", "445660", "accounting: deductible VAT account debited"),
    Setting("FACTURIER_ACCOUNT_SUPPLIER", "401000", "accounting: supplier payables (gross)"),
    Setting("FACTURIER_ACCOUNT_BANK", "512000", "accounting: bank account credited on payment"),
    Setting("FACTURIER_RELAY_BATCH", "2000", "notifications the relay reads and sends per round"),
    Setting("FACTURIER_RELAY_IDLE_MS", "50", "relay pause when nothing is new, ms"),
    Setting(
        "FACTURIER_ROUTING",
        "directory",
        "`directory`: refuse what the buyers' directory cannot route; `open`: any valid SIRET",
    ),
    Setting("FACTURIER_API_HOST", "127.0.0.1", "HTTP API bind address"),
    Setting("FACTURIER_API_PORT", "8000", "HTTP API port"),
    Setting("FACTURIER_API_TOKEN", "", "`facturier flow ...`: the API token used (or --token)"),
    Setting(
        "FACTURIER_TOKEN_DAYS",
        "365",
        "lifetime of a new API token, days (`facturier admin create-token --days` overrides)",
    ),
    Setting(
        "FACTURIER_CLIENT_TOKEN_SECONDS",
        "900",
        "lifetime of a bearer token a technical account gets at /oauth/token, seconds",
    ),
    Setting(
        "FACTURIER_AUTH_MAX_FAILURES",
        "10",
        "failed authentications (API token, portal sign-in) of one client address within the"
        " window that lock it out",
    ),
    Setting("FACTURIER_AUTH_WINDOW_S", "300", "that window, seconds"),
    Setting(
        "FACTURIER_AUTH_LOCKOUT_S",
        "300",
        "first lockout of an address, seconds (429 with Retry-After); doubled at each new"
        " lockout until a day passes without failure, up to a day",
    ),
    Setting(
        "FACTURIER_REQUIRE_2FA",
        "true",
        "accounts must sign in with a second factor (authenticator app or e-mail code)",
    ),
    Setting(
        "FACTURIER_LOGIN_MAX_FAILURES",
        "5",
        "failed sign-ins of one login e-mail within the window that lock it out (a mail tells"
        " the owner); the address limits above apply as well",
    ),
    Setting("FACTURIER_LOGIN_WINDOW_S", "900", "that window, seconds"),
    Setting(
        "FACTURIER_LOGIN_LOCKOUT_S",
        "900",
        "first lockout of a login e-mail, seconds; doubled at each new lockout of the day",
    ),
    Setting("FACTURIER_SESSION_HOURS", "8", "a portal session ends this long after sign-in"),
    Setting(
        "FACTURIER_SESSION_IDLE_MINUTES", "30", "or after this long without a request, if sooner"
    ),
    Setting(
        "FACTURIER_HEALTH_STUCK_S",
        "60",
        "/health: a service with work waiting that has not moved for this long is stuck (503)",
    ),
    Setting("FACTURIER_RELAY_METRICS_PORT", "9101", "Prometheus port of the relay process"),
    Setting("FACTURIER_PROJECTION_METRICS_PORT", "9102", "Prometheus port of the projection"),
    Setting(
        "FACTURIER_ACCOUNTING_METRICS_PORT", "9103", "Prometheus port of the accounting journal"
    ),
    Setting(
        "FACTURIER_PAYMENT_DELAYS_METRICS_PORT", "9104", "Prometheus port of the payment delays"
    ),
    Setting("FACTURIER_FLOW_METRICS_PORT", "9105", "Prometheus port of the flow intake"),
    Setting(
        "FACTURIER_AUTHORISATION_METRICS_PORT",
        "9107",
        "Prometheus port of the authorisation projection",
    ),
    Setting(
        "FACTURIER_ACCESS_RELAY_METRICS_PORT",
        "9108",
        "Prometheus port of the access relay (accounts' store -> access topic)",
    ),
    Setting(
        "FACTURIER_NOTIFICATIONS_METRICS_PORT", "9106", "Prometheus port of the e-mail notifier"
    ),
    Setting(
        "FACTURIER_NOTIFICATIONS_GROUP",
        "notifications",
        "consumer group of the e-mail notifications",
    ),
    Setting(
        "FACTURIER_NOTIFICATIONS_MAX_AGE_HOURS",
        "48",
        "status changes older than this when read from the topic are not mailed",
    ),
    Setting(
        "FACTURIER_NOTIFICATIONS_RETENTION_DAYS",
        "400",
        "e-mail outbox rows done for longer than this are purged, hourly by the sender"
        " (at least a day past the max age above)",
    ),
    Setting(
        "FACTURIER_PORTAL_URL",
        "http://127.0.0.1:8000",
        "public base URL of the web portal, for the links in e-mails",
    ),
    Setting(
        "FACTURIER_MAILBOX_PORT",
        "2525",
        "local stack: port of `facturier mailbox`, the mail catcher the demo starts",
    ),
    Setting("FACTURIER_SMTP_HOST", "localhost", "SMTP server of the e-mail notifications"),
    Setting("FACTURIER_SMTP_PORT", "25", "its port (587 for STARTTLS, 465 for SSL usually)"),
    Setting("FACTURIER_SMTP_TLS", "none", "`none`, `starttls` or `ssl` (implicit TLS)"),
    Setting("FACTURIER_SMTP_USER", "", "SMTP login; empty: no authentication"),
    Setting("FACTURIER_SMTP_PASSWORD", "", "SMTP password"),
    Setting("FACTURIER_SMTP_FROM", "facturier@localhost", "From: address of the e-mails"),
    Setting(
        "FACTURIER_SMTP_CA_FILE",
        "",
        "PEM file of the CAs trusted for the SMTP server's certificate; empty: the system's",
    ),
    Setting("FACTURIER_SMTP_TIMEOUT_S", "30", "SMTP connection and reply timeout, seconds"),
    Setting(
        "FACTURIER_SMTP_RETRY_S",
        "30",
        "first retry delay of an e-mail that failed, seconds; doubled each time, up to 1 h",
    ),
    Setting("FACTURIER_DATA_DIR", str(_ROOT / ".data"), "local stack state (jars, data, logs)"),
    Setting("FACTURIER_LOG_LEVEL", "INFO", "log level of the services"),
    # Read by deploy/local/stack.sh only (the local stack without Docker):
    Setting("FACTURIER_KAFKA_VERSION", "4.1.1", "local stack: Apache Kafka version fetched"),
    Setting("FACTURIER_KAFKA_HOST", "127.0.0.1", "local stack: broker listen address"),
    Setting("FACTURIER_KAFKA_PORT", "9092", "local stack: broker client port"),
    Setting("FACTURIER_KAFKA_CONTROLLER_PORT", "9093", "local stack: KRaft controller port"),
    Setting("FACTURIER_KAFKA_HEAP_OPTS", "-Xms256m -Xmx512m", "local stack: broker JVM heap"),
    Setting("FACTURIER_KAFKA_START_TIMEOUT", "90", "local stack: seconds to wait for Kafka"),
    Setting("FACTURIER_KAFKA_STOP_TIMEOUT", "60", "local stack: seconds before SIGKILL"),
    Setting("FACTURIER_PG_VERSION", "(newest installed)", "local stack: PostgreSQL major"),
    Setting("FACTURIER_PG_CLUSTER", "main", "local stack: Debian cluster name"),
    Setting("FACTURIER_PG_START_TIMEOUT", "60", "local stack: seconds to wait for PostgreSQL"),
    Setting("FACTURIER_PG_MAX_CONNECTIONS", "300", "local stack: PostgreSQL max_connections"),
    Setting("FACTURIER_JAVA", "java", "local stack: Java 17+ running Kafka"),
    Setting("FACTURIER_MVN", "mvn", "local stack: Maven fetching the Kafka jars"),
    Setting("FACTURIER_PYTHON", "python3", "setup.sh: interpreter of the virtualenv"),
)


class SettingError(ValueError):
    """A FACTURIER_* variable whose value does not fit."""


def env(name: str) -> str:
    default = next(s.default for s in SETTINGS if s.env == name)
    return os.environ.get(name, default)


def var(name: str) -> Any:
    """A section's field read from the variable `name` (its default and meaning: SETTINGS)."""
    return field(metadata={"env": name})


# ---------------------------------------------------------------- sections
# Each component is handed the section it needs, never the whole configuration.


@dataclass(frozen=True)
class PostgresSettings:
    host: str = var("FACTURIER_PG_HOST")
    port: int = var("FACTURIER_PG_PORT")
    user: str = var("FACTURIER_PG_USER")
    password: str = var("FACTURIER_PG_PASSWORD")
    db: str = var("FACTURIER_PG_DB")
    pool_size: int = var("FACTURIER_PG_POOL_SIZE")

    @property
    def dsn(self) -> str:
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password} dbname={self.db}"
        )

    def eventsourcing_env(self) -> dict[str, str]:
        """The `eventsourcing` library's PostgreSQL settings for the event store."""
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": self.db,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            # Two connections held, the rest opened on demand: a host runs many processes.
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": str(max(0, self.pool_size - 2)),
            "POSTGRES_LOCK_TIMEOUT": "10",
            "CREATE_TABLE": "y",
        }


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = var("FACTURIER_KAFKA_BOOTSTRAP")
    topic: str = var("FACTURIER_TOPIC")
    topic_partitions: int = var("FACTURIER_TOPIC_PARTITIONS")
    topic_replication: int = var("FACTURIER_TOPIC_REPLICATION")
    flow_topic: str = var("FACTURIER_FLOW_TOPIC")
    access_topic: str = var("FACTURIER_ACCESS_TOPIC")


@dataclass(frozen=True)
class IntakeSettings:
    flow_group: str = var("FACTURIER_FLOW_GROUP")
    workers: int = var("FACTURIER_INTAKE_WORKERS")
    max_upload_mb: int = var("FACTURIER_MAX_UPLOAD_MB")
    max_file_mb: int = var("FACTURIER_MAX_FILE_MB")
    max_archive_entries: int = var("FACTURIER_MAX_ARCHIVE_ENTRIES")
    signature_trust_roots: str = var("FACTURIER_SIGNATURE_TRUST_ROOTS")
    signature_untrusted: str = var("FACTURIER_SIGNATURE_UNTRUSTED")
    routing: str = var("FACTURIER_ROUTING")
    metrics_port: int = var("FACTURIER_FLOW_METRICS_PORT")

    @property
    def limits(self) -> Limits:
        """Intake size and archive limits; the rest keep their Chorus Pro-like defaults."""
        return Limits(
            max_xml_bytes=self.max_file_mb * MB,
            max_pdf_bytes=self.max_file_mb * MB,
            max_file_bytes=self.max_file_mb * MB,
            max_upload_bytes=self.max_upload_mb * MB,
            max_archive_entries=self.max_archive_entries,
            max_archive_records=max(
                DEFAULT_LIMITS.max_archive_records, 4 * self.max_archive_entries
            ),
        )


@dataclass(frozen=True)
class RelaySettings:
    batch: int = var("FACTURIER_RELAY_BATCH")
    idle_ms: int = var("FACTURIER_RELAY_IDLE_MS")
    metrics_port: int = var("FACTURIER_RELAY_METRICS_PORT")
    access_metrics_port: int = var("FACTURIER_ACCESS_RELAY_METRICS_PORT")


@dataclass(frozen=True)
class TrackingSettings:
    group: str = var("FACTURIER_TRACKING_GROUP")
    metrics_port: int = var("FACTURIER_PROJECTION_METRICS_PORT")


@dataclass(frozen=True)
class AuthorisationSettings:
    group: str = var("FACTURIER_AUTHORISATION_GROUP")
    metrics_port: int = var("FACTURIER_AUTHORISATION_METRICS_PORT")


@dataclass(frozen=True)
class AccountingSettings:
    group: str = var("FACTURIER_ACCOUNTING_GROUP")
    account_expense: str = var("FACTURIER_ACCOUNT_EXPENSE")
    account_vat: str = var("FACTURIER_ACCOUNT_VAT")
    account_supplier: str = var("FACTURIER_ACCOUNT_SUPPLIER")
    account_bank: str = var("FACTURIER_ACCOUNT_BANK")
    metrics_port: int = var("FACTURIER_ACCOUNTING_METRICS_PORT")


@dataclass(frozen=True)
class PaymentDelaySettings:
    group: str = var("FACTURIER_PAYMENT_DELAYS_GROUP")
    late_interest_reference_rate: str = var("FACTURIER_LATE_INTEREST_REFERENCE_RATE")
    metrics_port: int = var("FACTURIER_PAYMENT_DELAYS_METRICS_PORT")


@dataclass(frozen=True)
class NotificationSettings:
    group: str = var("FACTURIER_NOTIFICATIONS_GROUP")
    max_age_hours: int = var("FACTURIER_NOTIFICATIONS_MAX_AGE_HOURS")
    retention_days: int = var("FACTURIER_NOTIFICATIONS_RETENTION_DAYS")
    portal_url: str = var("FACTURIER_PORTAL_URL")
    metrics_port: int = var("FACTURIER_NOTIFICATIONS_METRICS_PORT")


@dataclass(frozen=True)
class SmtpSettings:
    host: str = var("FACTURIER_SMTP_HOST")
    port: int = var("FACTURIER_SMTP_PORT")
    tls: str = var("FACTURIER_SMTP_TLS")
    user: str = var("FACTURIER_SMTP_USER")
    password: str = var("FACTURIER_SMTP_PASSWORD")
    sender: str = var("FACTURIER_SMTP_FROM")
    ca_file: str = var("FACTURIER_SMTP_CA_FILE")
    timeout_s: int = var("FACTURIER_SMTP_TIMEOUT_S")
    retry_s: int = var("FACTURIER_SMTP_RETRY_S")


@dataclass(frozen=True)
class ApiSettings:
    host: str = var("FACTURIER_API_HOST")
    port: int = var("FACTURIER_API_PORT")
    token_days: int = var("FACTURIER_TOKEN_DAYS")
    client_token_seconds: int = var("FACTURIER_CLIENT_TOKEN_SECONDS")
    auth_max_failures: int = var("FACTURIER_AUTH_MAX_FAILURES")
    auth_window_s: int = var("FACTURIER_AUTH_WINDOW_S")
    auth_lockout_s: int = var("FACTURIER_AUTH_LOCKOUT_S")
    health_stuck_s: int = var("FACTURIER_HEALTH_STUCK_S")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class AccountSettings:
    require_2fa: bool = var("FACTURIER_REQUIRE_2FA")
    login_max_failures: int = var("FACTURIER_LOGIN_MAX_FAILURES")
    login_window_s: int = var("FACTURIER_LOGIN_WINDOW_S")
    login_lockout_s: int = var("FACTURIER_LOGIN_LOCKOUT_S")
    session_hours: int = var("FACTURIER_SESSION_HOURS")
    session_idle_minutes: int = var("FACTURIER_SESSION_IDLE_MINUTES")


@dataclass(frozen=True)
class Settings:
    """The whole configuration, read once (`from_env`) by the composition root and handed out
    section by section."""

    postgres: PostgresSettings
    kafka: KafkaSettings
    intake: IntakeSettings
    relay: RelaySettings
    tracking: TrackingSettings
    authorisation: AuthorisationSettings
    accounting: AccountingSettings
    payment_delays: PaymentDelaySettings
    notifications: NotificationSettings
    smtp: SmtpSettings
    api: ApiSettings
    accounts: AccountSettings

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Every section from the FACTURIER_* variables. An override is keyed by its variable's
        name without the prefix, in lower case: `topic="t"` for FACTURIER_TOPIC."""
        known = {_key(f.metadata["env"]) for section in _SECTIONS.values() for f in fields(section)}
        if unknown := set(overrides) - known:
            raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")

        def value(f: Field[Any]) -> object:
            name = f.metadata["env"]
            return _parse(name, overrides.get(_key(name), env(name)), f.type)

        return cls(
            **{
                name: section(**{f.name: value(f) for f in fields(section)})
                for name, section in _SECTIONS.items()
            }
        )

    def replaced(self, **overrides: object) -> Settings:
        """A copy with some variables changed, keyed as in `from_env`."""
        current = {_key(name): value for name, value in self.to_env().items()}
        return Settings.from_env(**{**current, **overrides})

    def to_env(self) -> dict[str, str]:
        """These settings as FACTURIER_* variables, for a child process."""
        return {
            f.metadata["env"]: str(getattr(getattr(self, section.name), f.name))
            for section in fields(self)
            for f in fields(getattr(self, section.name))
        }


_SECTIONS: dict[str, Any] = {
    "postgres": PostgresSettings,
    "kafka": KafkaSettings,
    "intake": IntakeSettings,
    "relay": RelaySettings,
    "tracking": TrackingSettings,
    "authorisation": AuthorisationSettings,
    "accounting": AccountingSettings,
    "payment_delays": PaymentDelaySettings,
    "notifications": NotificationSettings,
    "smtp": SmtpSettings,
    "api": ApiSettings,
    "accounts": AccountSettings,
}


def _key(name: str) -> str:
    return name.removeprefix("FACTURIER_").lower()


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _parse(name: str, raw: object, kind: object) -> object:
    if kind in (bool, "bool") and not isinstance(raw, bool):
        text = str(raw).strip().lower()
        if text not in _TRUE + _FALSE:
            raise SettingError(f"{name}={raw!r}: true or false expected")
        return text in _TRUE
    if kind in (int, "int") and not isinstance(raw, int):
        try:
            return int(str(raw))
        except ValueError:
            raise SettingError(f"{name}={raw!r}: a whole number expected") from None
    return raw


def settings_table_markdown() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = "`<checkout>/.data`" if s.env == "FACTURIER_DATA_DIR" else f"`{s.default}`"
        rows.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows) + "\n"


@functools.cache
def current() -> Settings:
    """This process's configuration, read from the environment once."""
    return Settings.from_env()
