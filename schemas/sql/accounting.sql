-- Accounting journal: a double-entry journal per buyer structure (recipient SIRET), built only
-- from lifecycle events on Kafka (projections/accounting.py); `facturier accounting fec`
-- exports it. Can be dropped and rebuilt by replaying the topic from offset 0.

-- What the projection keeps of each invoice: later events carry no amounts nor parties.
CREATE TABLE IF NOT EXISTS accounting_invoice (
    invoice_id      uuid PRIMARY KEY,
    version         bigint NOT NULL,          -- last applied event version
    supplier_id     text NOT NULL,
    supplier_name   text NOT NULL,
    number          text NOT NULL,
    kind            text NOT NULL,            -- UNTDID 1001 (credit notes: domain/model.py)
    issue_date      date NOT NULL,
    currency        text NOT NULL,
    net_amount      numeric(18, 2) NOT NULL,
    vat_amount      numeric(18, 2) NOT NULL,
    gross_amount    numeric(18, 2) NOT NULL,
    recipient_siret text NOT NULL,            -- where it is addressed now
    posted_siret    text                      -- whose journal holds its entry now, if any
);

-- One entry per (invoice, event version) at most: a redelivered event posts nothing twice.
CREATE TABLE IF NOT EXISTS accounting_entry (
    invoice_id      uuid NOT NULL,
    version         bigint NOT NULL,
    structure_siret text NOT NULL,            -- the buyer structure whose journal it is in
    journal_code    text NOT NULL,
    journal_label   text NOT NULL,
    entry_date      date NOT NULL,            -- EcritureDate (event date, Europe/Paris)
    occurred_at     timestamptz NOT NULL,     -- orders entries of one day (EcritureNum)
    piece_ref       text NOT NULL,
    piece_date      date NOT NULL,
    label           text NOT NULL,            -- EcritureLib
    currency        text NOT NULL,
    event_type      text NOT NULL,
    PRIMARY KEY (invoice_id, version)
);
CREATE INDEX IF NOT EXISTS accounting_entry_structure
    ON accounting_entry (structure_siret, entry_date);

CREATE TABLE IF NOT EXISTS accounting_line (
    invoice_id     uuid NOT NULL,
    version        bigint NOT NULL,
    line_no        integer NOT NULL,
    account        text NOT NULL,             -- CompteNum
    account_label  text NOT NULL,             -- CompteLib
    aux_account    text,                      -- CompAuxNum: the supplier, on 401 lines
    aux_label      text,                      -- CompAuxLib
    debit          numeric(18, 2) NOT NULL CHECK (debit >= 0),
    credit         numeric(18, 2) NOT NULL CHECK (credit >= 0),
    PRIMARY KEY (invoice_id, version, line_no),
    FOREIGN KEY (invoice_id, version) REFERENCES accounting_entry (invoice_id, version),
    CHECK ((debit = 0) <> (credit = 0))       -- one side, never both, never an empty line
);

-- Every entry balanced, checked by the database at commit: debits = credits.
CREATE OR REPLACE FUNCTION accounting_entry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    difference numeric;
BEGIN
    SELECT sum(debit) - sum(credit) INTO difference FROM accounting_line
     WHERE invoice_id = NEW.invoice_id AND version = NEW.version;
    IF difference <> 0 THEN
        RAISE EXCEPTION 'accounting entry (%, %) unbalanced by %',
            NEW.invoice_id, NEW.version, difference;
    END IF;
    RETURN NULL;
END;
$$;

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_trigger WHERE tgname = 'accounting_line_balanced'
           AND tgrelid = 'accounting_line'::regclass
    ) THEN
        CREATE CONSTRAINT TRIGGER accounting_line_balanced
            AFTER INSERT OR UPDATE ON accounting_line
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION accounting_entry_balanced();
    END IF;
END;
$$;
