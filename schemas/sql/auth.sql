-- API bearer tokens. Only a SHA-256 of each token is kept; the token itself is shown once.
CREATE TABLE IF NOT EXISTS api_token (
    token_sha256 text PRIMARY KEY,
    role         text NOT NULL CHECK (role IN ('supplier', 'buyer', 'auditor', 'admin')),
    scope        text NOT NULL,   -- supplier identifier, buyer SIRET, or '*'
    label        text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
