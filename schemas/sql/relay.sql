-- How far the relay has published the event store's notification log to Kafka.
-- Advanced only after the broker acknowledged every message up to `position`.
CREATE TABLE IF NOT EXISTS relay_position (
    name        text PRIMARY KEY,
    position    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Each invoice's newest hash-chain link (events/chain.py), as relayed: moved with the
-- position, so the chain continues exactly where publishing stopped.
CREATE TABLE IF NOT EXISTS event_chain (
    invoice_id  uuid PRIMARY KEY,
    version     bigint NOT NULL,
    chain_hash  bytea NOT NULL
);

-- The same for accounts and organisations, relayed to the access topic (AccessRelay).
CREATE TABLE IF NOT EXISTS access_chain (
    invoice_id  uuid PRIMARY KEY,  -- the aggregate (an account or an organisation)
    version     bigint NOT NULL,
    chain_hash  bytea NOT NULL
);

-- Events the relay could not publish (the contract cannot encode them, or the broker refused
-- that one message): kept with their error, counted (facturier_relay_dead_letters_total) and
-- passed, so one event never stops the relay. `facturier status` shows them.
CREATE TABLE IF NOT EXISTS relay_dead_letters (
    name               text NOT NULL,
    notification_id    bigint NOT NULL,
    originator_id      text NOT NULL,
    originator_version bigint NOT NULL,
    topic              text NOT NULL,
    error              text NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, notification_id)
);
