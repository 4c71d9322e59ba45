"""Prometheus metrics of every stage; each process exposes the ones it updates."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPENDED = Counter(
    "facturier_events_appended_total",
    "Lifecycle events recorded in the event store",
    ["event_type"],
)
EVENTS_RELAYED = Counter(
    "facturier_events_relayed_total", "Events the broker acknowledged, as sent by the relay"
)
RELAY_POSITION = Gauge("facturier_relay_position", "Last notification id published to Kafka")
RELAY_LAG = Gauge(
    "facturier_relay_lag", "Newest notification id minus the last one published to Kafka"
)
RELAY_DEAD_LETTERS = Counter(
    "facturier_relay_dead_letters_total",
    "Events the relay set aside: the contract cannot encode them or the broker refused them",
)
EVENTS_CONSUMED = Counter(
    "facturier_events_consumed_total", "Messages applied by a projection", ["group"]
)
DEAD_LETTERS = Counter(
    "facturier_dead_letters_total", "Messages a projection could not apply", ["group"]
)
CONSUMER_LAG = Gauge(
    "facturier_consumer_lag", "Log end offset minus next offset to apply", ["group", "partition"]
)
HTTP_LATENCY = Histogram(
    "facturier_http_request_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
PAYMENT_DELAY_DAYS = Histogram(
    "facturier_payment_delay_days",
    "Days from reception (MadeAvailable) to payment (PaymentSent), suspensions excluded",
    ["structure"],
    buckets=(5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 75, 90, 120, 180, 365),
)
LATE_PAYMENTS = Counter(
    "facturier_late_payments_total",
    "Invoices paid after their legal deadline (late-payment interest owed)",
    ["structure"],
)
FLOWS_RECEIVED = Counter("facturier_flows_received_total", "Flows (uploads) received")
FLOWS_FINISHED = Counter(
    "facturier_flows_finished_total", "Flows processed to their end, by final state", ["status"]
)
INVOICES_INTEGRATED = Counter(
    "facturier_flow_invoices_integrated_total", "Invoices of flows submitted"
)
INVOICES_REJECTED = Counter(
    "facturier_flow_invoices_rejected_total",
    "Entries of flows rejected, by the reason code of their first error",
    ["reason_code"],
)
EMAILS_SENT = Counter(
    "facturier_emails_sent_total", "Notification e-mails the SMTP server accepted"
)
EMAIL_FAILURES = Counter(
    "facturier_email_failures_total",
    "Failed attempts to send a notification e-mail: transient ones are retried later,"
    " permanent ones (5xx refusals) are not",
    ["kind"],
)
EMAILS_UNKNOWN = Counter(
    "facturier_emails_unknown_total",
    "Notification e-mails claimed but never confirmed (sender died, connection lost during"
    " DATA): maybe delivered, never sent again",
)
EMAIL_OUTBOX_PENDING = Gauge(
    "facturier_email_outbox_pending", "Notification e-mails waiting to be sent or retried"
)
SERVICE_UP = Gauge(
    "facturier_service_up",
    "1 while a service's loop runs, 0 from a failure until it has run a minute without one",
    ["service"],
)
SERVICE_RESTARTS = Counter(
    "facturier_service_restarts_total",
    "Times a service's loop failed and was restarted by its process",
    ["service"],
)
AUTH_FAILURES = Counter(
    "facturier_auth_failures_total",
    "Failed authentications by channel (api, portal) and reason (unknown, revoked, expired,"
    " invalid_scope; locked: refused unread while the client address is locked out)",
    ["channel", "reason"],
)
