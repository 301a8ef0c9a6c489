-- Sessions that move from a read-only node to the primary (server/services/session_moves.py)
-- must not come back to life. Two facts the primary keeps for that:
--
-- * ended_sessions: the hash of every session that ended here (logout, refresh, expiry,
--   a password change or a disable ending it), kept until the session would have expired
--   anyway. A move of a hash found here is refused, so a move sent again after its answer
--   was lost cannot undo a logout made meanwhile.
-- * users.sessions_valid_after: set whenever a user is disabled, or its password or
--   second factor changes. A moved session made before that moment is refused, even if
--   the user was enabled again, or changed back, before the move arrived.
CREATE TABLE ended_sessions (
    token_hash  bytea PRIMARY KEY,
    org_id      uuid NOT NULL,
    keep_until  timestamptz NOT NULL
);
ALTER TABLE ended_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE ended_sessions FORCE ROW LEVEL SECURITY;
-- An org's own rows; a tombstone past its session's lifetime proves nothing and may be
-- purged from any context.
CREATE POLICY ended_sessions_org ON ended_sessions
    USING (org_id = app_org_id() OR keep_until < now())
    WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT, DELETE ON ended_sessions TO :"app_role";

CREATE FUNCTION session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ended_sessions (token_hash, org_id, keep_until)
        VALUES (OLD.token_hash, OLD.org_id, OLD.expires_at)
        ON CONFLICT (token_hash) DO NOTHING;
    RETURN OLD;
END $$;
CREATE TRIGGER sessions_ended AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION session_ended();

ALTER TABLE users ADD COLUMN sessions_valid_after timestamptz;

CREATE FUNCTION user_sessions_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.status IS DISTINCT FROM OLD.status AND NEW.status <> 'active')
       OR NEW.password_hash IS DISTINCT FROM OLD.password_hash
       OR NEW.totp_secret IS DISTINCT FROM OLD.totp_secret THEN
        NEW.sessions_valid_after := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER users_sessions_mark BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION user_sessions_mark();
