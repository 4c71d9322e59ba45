-- Tracking read model: what suppliers and buyers see. Built only from lifecycle events on
-- Kafka; can be dropped and rebuilt by replaying the topic from offset 0.
CREATE TABLE IF NOT EXISTS tracking_invoice (
    invoice_id        uuid PRIMARY KEY,
    version           bigint NOT NULL,         -- last applied event version
    supplier_scheme   text NOT NULL,
    supplier_id       text NOT NULL,
    supplier_name     text NOT NULL,
    recipient_siret   text NOT NULL,
    service_code      text NOT NULL,
    order_reference   text NOT NULL,
    number            text NOT NULL,
    kind              text NOT NULL,
    mode              text NOT NULL,
    issue_date        date NOT NULL,
    due_date          date,
    currency          text NOT NULL,
    net_amount        numeric(18, 2) NOT NULL,
    vat_amount        numeric(18, 2) NOT NULL,
    gross_amount      numeric(18, 2) NOT NULL,
    payable_amount    numeric(18, 2) NOT NULL,
    status            text NOT NULL,
    reform_code       integer NOT NULL,
    summary           text NOT NULL,
    payment_order_number text,
    paid_amount       numeric(18, 2),
    paid_on           date,
    submitted_at      timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- What an invoice's portal page shows besides its status, so that one row is one consistent
-- state (the status, the forms it allows, the documents and the receipt of that version).
-- Added to tables created before them, NULL there until the topic is replayed: the page then
-- reads these from the event store (services/portal/invoice_page.py).
ALTER TABLE tracking_invoice ADD COLUMN IF NOT EXISTS submitted_to text;    -- first recipient
ALTER TABLE tracking_invoice ADD COLUMN IF NOT EXISTS correlation_id text;  -- of the submission
ALTER TABLE tracking_invoice ADD COLUMN IF NOT EXISTS documents jsonb;      -- [{sha256, ...}]
ALTER TABLE tracking_invoice ADD COLUMN IF NOT EXISTS received_version bigint;  -- last reception
ALTER TABLE tracking_invoice ADD COLUMN IF NOT EXISTS received_at timestamptz;
CREATE INDEX IF NOT EXISTS tracking_invoice_supplier
    ON tracking_invoice (supplier_id, submitted_at DESC, invoice_id);
CREATE INDEX IF NOT EXISTS tracking_invoice_recipient
    ON tracking_invoice (recipient_siret, submitted_at DESC, invoice_id);

CREATE TABLE IF NOT EXISTS tracking_timeline (
    invoice_id    uuid NOT NULL,
    version       bigint NOT NULL,
    event_id      uuid NOT NULL,
    event_type    text NOT NULL,
    status        text NOT NULL,
    reform_code   integer NOT NULL,
    summary       text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    actor         text NOT NULL,
    reason_code   text,
    reason        text,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (invoice_id, version)
);

-- Every list (queries.list_query: the JSON API's, the portal's): newest first, ties by id,
-- keyset pagination, one index per filter it offers, in the order of the two indexes above
-- (submitted_at DESC, invoice_id), so that any page, however deep, is an index range read
-- and never a sort.
CREATE INDEX IF NOT EXISTS tracking_invoice_supplier_summary
    ON tracking_invoice (supplier_id, summary, submitted_at DESC, invoice_id);
CREATE INDEX IF NOT EXISTS tracking_invoice_supplier_recipient
    ON tracking_invoice (supplier_id, recipient_siret, submitted_at DESC, invoice_id);
CREATE INDEX IF NOT EXISTS tracking_invoice_supplier_number
    ON tracking_invoice (supplier_id, number text_pattern_ops);
CREATE INDEX IF NOT EXISTS tracking_invoice_recipient_summary
    ON tracking_invoice (recipient_siret, summary, submitted_at DESC, invoice_id);
CREATE INDEX IF NOT EXISTS tracking_invoice_newest
    ON tracking_invoice (submitted_at DESC, invoice_id);
-- Auditors' and admins' lists span every supplier: a category, a number across them all.
CREATE INDEX IF NOT EXISTS tracking_invoice_summary
    ON tracking_invoice (summary, submitted_at DESC, invoice_id);
CREATE INDEX IF NOT EXISTS tracking_invoice_number
    ON tracking_invoice (number text_pattern_ops);
