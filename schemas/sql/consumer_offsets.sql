-- Kafka offsets of every projection, written in the same transaction as the projection's
-- own rows: a crash or a redelivery never applies a message twice, nor skips one.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    group_id    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Messages a projection could not apply (undecodable, unknown schema...): kept, counted,
-- and shown by `facturier status`, never silently dropped.
CREATE TABLE IF NOT EXISTS dead_letters (
    id          bigserial PRIMARY KEY,
    group_id    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    key         bytea,
    value       bytea,
    error       text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (group_id, topic, partition, "offset")
);
