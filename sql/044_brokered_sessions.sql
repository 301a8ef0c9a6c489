-- Brokered SSH sessions through the gateway (issue 30, items 4 and 5).
--
-- accounts.connect_only: the password is never revealed (reveal_account answers
-- 'connect_only'), yet an entitled user may open a brokered session with it
-- (use_account(..., 'connect', ...), sql/functions/reveal_account.sql).
--
-- session_recordings: every brokered session's asciicast v2 recording, sealed with the
-- org's data key (table 'session_recordings', column 'sealed', the row's id), with the
-- SHA-256 and size of the plaintext as the session_ended audit event names them. Rows
-- are deleted with the org and, as the audit trail, when older than its retention.

ALTER TABLE accounts ADD COLUMN connect_only boolean NOT NULL DEFAULT false;
GRANT SELECT (connect_only) ON accounts TO :"app_role";

CREATE TABLE session_recordings (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id  uuid REFERENCES accounts (id) ON DELETE SET NULL,
    target      text NOT NULL CHECK (length(target) <= 600),  -- '<resource>/<account>'
    actor       text NOT NULL CHECK (length(actor) <= 300),
    actor_org   text NOT NULL CHECK (length(actor_org) <= 300),
    ip          text NOT NULL DEFAULT '' CHECK (length(ip) <= 100),
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz NOT NULL,
    end_reason  text NOT NULL DEFAULT '' CHECK (length(end_reason) <= 100),
    bytes_out   bigint NOT NULL DEFAULT 0,
    bytes_in    bigint NOT NULL DEFAULT 0,
    size        bigint NOT NULL,
    sha256      text NOT NULL CHECK (length(sha256) = 64),
    sealed      bytea NOT NULL
);
CREATE INDEX session_recordings_org ON session_recordings (org_id, started_at DESC);
ALTER TABLE session_recordings ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_recordings FORCE ROW LEVEL SECURITY;
CREATE POLICY session_recordings_org ON session_recordings USING (org_id = app_org_id())
    WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT, DELETE ON session_recordings TO :"app_role";
