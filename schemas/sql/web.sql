-- Sessions of the supplier web portal. The session id travels only in an HttpOnly cookie;
-- only its SHA-256 is kept, like API tokens. A session stands for the API token pasted at
-- login (by its SHA-256): revoking the token ends its sessions at once.
CREATE TABLE IF NOT EXISTS portal_session (
    session_sha256 text PRIMARY KEY,
    token_sha256   text NOT NULL,
    csrf_token     text NOT NULL,   -- sent back in a hidden field by every form of the session
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS portal_session_expires ON portal_session (expires_at);
