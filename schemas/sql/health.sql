-- One heartbeat row per service instance (services/health.py): what `/health` and
-- `facturier status` report. Written every few seconds by each process's monitor thread.
CREATE TABLE IF NOT EXISTS service_status (
    service     text NOT NULL,          -- relay, tracking-projection, accounting-journal...
    instance    text NOT NULL,          -- host:pid
    started_at  timestamptz NOT NULL,
    beat_at     timestamptz NOT NULL,
    state       text NOT NULL CHECK (state IN ('running', 'failing', 'stopped')),
    restarts    integer NOT NULL DEFAULT 0,
    last_error  text,
    failed_at   timestamptz,
    position    bigint,                 -- relay position, or the sum of stored offsets
    lag         bigint,                 -- work waiting (events, messages)
    progress_at timestamptz,            -- last time it moved, or had nothing to do
    PRIMARY KEY (service, instance)
);
