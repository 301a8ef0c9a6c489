-- Trigger sessions_ended (sql/022): every session that ends here (logout, refresh,
-- expiry, a password change or a disable ending it) leaves its hash in ended_sessions
-- until it would have expired anyway, so a move of it from a read-only node is refused.
CREATE OR REPLACE FUNCTION session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ended_sessions (token_hash, org_id, keep_until)
        VALUES (OLD.token_hash, OLD.org_id, OLD.expires_at)
        ON CONFLICT (token_hash) DO NOTHING;
    RETURN OLD;
END $$;
