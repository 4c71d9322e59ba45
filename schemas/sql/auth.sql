-- API bearer tokens. Only a SHA-256 of each token is kept; the token itself is shown once.
-- Its id (lists, logs, revocation) is the first 12 hex digits of that SHA-256.
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

-- Every token expires. Tokens issued before expiries existed get the default lifetime
-- (FACTURIER_TOKEN_DAYS' default) from their creation.
ALTER TABLE api_token ADD COLUMN IF NOT EXISTS expires_at timestamptz;
UPDATE api_token SET expires_at = created_at + interval '365 days' WHERE expires_at IS NULL;
ALTER TABLE api_token ALTER COLUMN expires_at SET NOT NULL;
-- Refreshed at most once an hour by a successful authentication (no write per request).
ALTER TABLE api_token ADD COLUMN IF NOT EXISTS last_used_at timestamptz;
-- The technical account a token was issued to (OAuth2 client credentials): such a token is
-- refused as soon as its technical account is revoked or expires, whatever its own expiry.
ALTER TABLE api_token ADD COLUMN IF NOT EXISTS client_id text;

-- Failed authentications per client address, shared by every API replica: the address that
-- fails FACTURIER_AUTH_MAX_FAILURES times within FACTURIER_AUTH_WINDOW_S is locked out until
-- locked_until (services/auth.py, TokenGuard). Rows quiet for a day are deleted.
CREATE TABLE IF NOT EXISTS auth_throttle (
    client          text PRIMARY KEY,                    -- the client's IP address
    failures        integer NOT NULL DEFAULT 0,          -- in the current window
    window_start    timestamptz NOT NULL DEFAULT now(),
    lockouts        integer NOT NULL DEFAULT 0,          -- of the last day: doubles the next
    locked_until    timestamptz,
    total_failures  bigint NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS auth_throttle_last_failure ON auth_throttle (last_failure_at);
