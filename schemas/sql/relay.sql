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
