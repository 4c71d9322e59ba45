-- Original documents (invoice XML and PDF files, uploads, attachments), stored once each,
-- addressed by the SHA-256 of their bytes. Events reference them by that hash; a document is
-- written before the events that reference it, so no accepted invoice lacks its bytes.
CREATE TABLE IF NOT EXISTS document (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content     bytea NOT NULL,
    size        bigint NOT NULL,
    stored_at   timestamptz NOT NULL DEFAULT now()
);
