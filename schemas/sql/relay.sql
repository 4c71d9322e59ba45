-- How far the relay has published the event store's notification log to Kafka.
-- Advanced only after the broker acknowledged every message up to `position`.
CREATE TABLE IF NOT EXISTS relay_position (
    name        text PRIMARY KEY,
    position    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
