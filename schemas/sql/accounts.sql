-- People's accounts (services/application/accounts.py): the aggregates are in the event
-- store (`accounts_events`); here, the sessions of the portal signed in with an account
-- (adapters/account_sessions.py). A session is known by the SHA-256 of its cookie only.
CREATE TABLE IF NOT EXISTS account_session (
    session_sha256 text PRIMARY KEY,
    account_id     uuid NOT NULL,
    stage          text NOT NULL CHECK (stage IN ('second-factor', 'enrol', 'signed-in')),
    csrf_token     text NOT NULL,   -- sent back in a hidden field by every form of the session
    address        text NOT NULL,   -- the client's address at sign-in
    user_agent     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,  -- absolute; idle sessions end earlier
    organisation   uuid                   -- the organisation the session works for
);
ALTER TABLE account_session ADD COLUMN IF NOT EXISTS organisation uuid;
CREATE INDEX IF NOT EXISTS account_session_account ON account_session (account_id);
CREATE INDEX IF NOT EXISTS account_session_expires ON account_session (expires_at);
