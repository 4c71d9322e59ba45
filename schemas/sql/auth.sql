-- API bearer tokens. Only a SHA-256 of each token is kept; the token itself is shown once.
CREATE TABLE IF NOT EXISTS api_token (
    token_sha256 text PRIMARY KEY,
    role         text NOT NULL CHECK (role IN ('supplier', 'buyer', 'operator', 'auditor', 'admin')),
    scope        text NOT NULL,   -- supplier id, buyer SIRET, mandated supplier ids, or '*'
    label        text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

-- Databases created before operators existed: widen the role check.
ALTER TABLE api_token DROP CONSTRAINT IF EXISTS api_token_role_check;
ALTER TABLE api_token ADD CONSTRAINT api_token_role_check
    CHECK (role IN ('supplier', 'buyer', 'operator', 'auditor', 'admin'));
