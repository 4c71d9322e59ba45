-- Payment delays (délai global de paiement, docs/DOMAIN.md §7): per-structure legal terms, and per
-- invoice the facts of its payment clock, built only from lifecycle events on Kafka
-- (projections/payment_delays.py). `payment_delay` can be dropped and rebuilt by replaying
-- the topic from offset 0; `structure_settings` is configuration (admin API), never rebuilt.

-- Legal payment period of a buyer structure: 30 days (State, local authorities) unless set,
-- 50 for public hospitals. A structure without a row has 30 days.
CREATE TABLE IF NOT EXISTS structure_settings (
    siret        text PRIMARY KEY CHECK (siret ~ '^[0-9]{14}$'),
    payment_days integer NOT NULL DEFAULT 30 CHECK (payment_days BETWEEN 1 AND 365),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text NOT NULL
);

CREATE TABLE IF NOT EXISTS payment_delay (
    invoice_id        uuid PRIMARY KEY,
    version           bigint NOT NULL,          -- last applied event version
    supplier_id       text NOT NULL,
    number            text NOT NULL,
    kind              text NOT NULL,            -- UNTDID 1001 (credit notes: domain/model.py)
    currency          text NOT NULL,
    gross_amount      numeric(18, 2) NOT NULL,
    recipient_siret   text NOT NULL,            -- where it is addressed now
    received_at       timestamptz,              -- the latest MadeAvailable: the clock starts
    received_on       date,                     -- its date, Europe/Paris
    payment_days      integer,                  -- the structure's terms then (snapshot)
    suspended_days    integer NOT NULL DEFAULT 0,  -- whole days of completed suspensions
    suspended_since   date,                     -- a suspension in progress: clock paused
    stopped           text,                     -- 'rejected' | 'rerouting': nothing due now
    paid_on           date,                     -- PaymentSent.payment_date
    paid_amount       numeric(18, 2),
    days_to_payment   integer,                  -- the legal clock's days at payment
    late_days         integer,
    reference_rate    numeric(7, 3),            -- percent, as configured when paid
    interest          numeric(18, 2),
    indemnity         numeric(18, 2)
);
CREATE INDEX IF NOT EXISTS payment_delay_recipient ON payment_delay (recipient_siret);
