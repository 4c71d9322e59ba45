-- The authorisation projection (projections/authorisation/): who may do what, built only from
-- the access topic (account and organisation events). `access_organisation` holds each
-- organisation's folded state and the version it reached; the three tables below are derived
-- from it, rewritten with it in the same transaction, and indexed for the questions asked on
-- every request. All four can be dropped and rebuilt by replaying the topic.
CREATE TABLE IF NOT EXISTS access_organisation (
    organisation_id uuid PRIMARY KEY,
    version         bigint NOT NULL,   -- the last event applied
    state           jsonb NOT NULL     -- projections/authorisation/state.py
);

-- Each member's rights in each organisation: what an account's session may reach.
CREATE TABLE IF NOT EXISTS access_member (
    account_id      uuid NOT NULL,
    organisation_id uuid NOT NULL,
    kind            text NOT NULL,
    identifier      text NOT NULL,
    public          boolean NOT NULL,
    role            text NOT NULL,     -- principal | user
    spaces          text[] NOT NULL,
    mandate_signed  boolean NOT NULL,  -- the billing mandate: typing invoices needs it
    version         bigint NOT NULL,   -- the organisation's version these rights come from
    PRIMARY KEY (account_id, organisation_id)
);

-- Operators' mandates in force (a revoked one has no row): for whom an operator submits.
CREATE TABLE IF NOT EXISTS access_operator (
    operator_identifier   text NOT NULL,
    supplier_organisation uuid NOT NULL,
    supplier_id           text NOT NULL,
    modes                 text[] NOT NULL,  -- portal | pdf | edi
    starts_on             date NOT NULL,
    PRIMARY KEY (operator_identifier, supplier_organisation)
);

-- Technical accounts not revoked (OAuth2 clients): their organisation and spaces.
CREATE TABLE IF NOT EXISTS access_client (
    client_id       text PRIMARY KEY,
    organisation_id uuid NOT NULL,
    kind            text NOT NULL,
    identifier      text NOT NULL,
    public          boolean NOT NULL,
    spaces          text[] NOT NULL,
    expires_at      timestamptz NOT NULL
);
