-- E-mail notifications to suppliers (projections/notifications/: the projection, the sender).
-- `notification_subscription` is configuration (set by the supplier through the API), never
-- rebuilt; `notification_invoice` is projection state, rebuilt by a replay; the outbox is the
-- delivery record of every e-mail due, kept for audit FACTURIER_NOTIFICATIONS_RETENTION_DAYS.

-- Who gets an e-mail for which of a supplier's invoice statuses. No row: no e-mail.
CREATE TABLE IF NOT EXISTS notification_subscription (
    supplier_id text PRIMARY KEY,
    email       text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    statuses    text[] NOT NULL,     -- plain words: received, suspended, rejected, paid...
    language    text NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL
);

-- What later events do not carry (only Submitted names the supplier and the buyer).
CREATE TABLE IF NOT EXISTS notification_invoice (
    invoice_id      uuid PRIMARY KEY,
    version         bigint NOT NULL,   -- last applied event version
    supplier_id     text NOT NULL,
    number          text NOT NULL,
    recipient_siret text NOT NULL,
    recipient_name  text NOT NULL      -- '' once re-routed: the event gives the SIRET only
);

-- One row per (event, recipient) that deserves an e-mail: the primary key makes a
-- redelivered event add nothing. States: pending -> sending (claimed, committed before the
-- SMTP transaction) -> sent; a claim never confirmed (process died, connection lost during
-- DATA) becomes `unknown` and is never sent again; a permanent SMTP refusal (5xx) is
-- `undeliverable`. Transient failures go back to pending with `next_attempt_at` later.
CREATE TABLE IF NOT EXISTS notification_outbox (
    event_id        uuid NOT NULL,
    recipient       text NOT NULL,
    invoice_id      uuid NOT NULL,
    version         bigint NOT NULL,
    supplier_id     text NOT NULL,
    status          text NOT NULL,     -- plain word
    language        text NOT NULL,
    number          text NOT NULL,
    recipient_siret text NOT NULL,     -- the buyer structure
    recipient_name  text NOT NULL,
    reform_code     integer NOT NULL,
    reason_code     text,
    reason          text,
    occurred_at     timestamptz NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'sent', 'unknown', 'undeliverable')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    claimed_at      timestamptz,
    done_at         timestamptz,
    PRIMARY KEY (event_id, recipient)
);
CREATE INDEX IF NOT EXISTS notification_outbox_due
    ON notification_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notification_outbox_invoice ON notification_outbox (invoice_id);
-- The purge (FACTURIER_NOTIFICATIONS_RETENTION_DAYS) reads done rows by age.
CREATE INDEX IF NOT EXISTS notification_outbox_done
    ON notification_outbox (done_at) WHERE state IN ('sent', 'unknown', 'undeliverable');
