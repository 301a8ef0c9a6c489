-- API keys expire (issue 13, item 8): every key has an expiry, at most a year after it
-- was made (OWASP REST Security Cheat Sheet, "API Keys"; ASVS 4.0 V3.3). Keys made
-- before this migration get 90 days from now, so no working integration stops at once.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
UPDATE api_keys SET expires_at = now() + interval '90 days';
ALTER TABLE api_keys ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_lifetime
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '366 days');

-- authenticate_token as in 006, and an API key past its expiry answers 'expired'.
CREATE OR REPLACE FUNCTION authenticate_token(p_org uuid, p_hash bytea, p_is_session boolean,
                                   p_idle interval)
RETURNS TABLE (status text, session_id uuid, api_key_id uuid, user_id uuid, username text,
               role text, access_scope text, must_change_password boolean,
               totp_setup_required boolean, org_display_name text, org_is_msp boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    s record;
    u record;
    writable boolean := NOT pg_is_in_recovery();
BEGIN
    PERFORM set_config('app.org_id', p_org::text, true);
    IF p_is_session THEN
        SELECT id, user_id, last_seen_at, expires_at INTO s FROM sessions
            WHERE token_hash = p_hash;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'missing'::text, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text,
                NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::text, NULL::boolean;
            RETURN;
        END IF;
        IF s.expires_at <= now() OR s.last_seen_at + p_idle <= now() THEN
            IF writable THEN
                DELETE FROM sessions WHERE id = s.id;
            END IF;
            RETURN QUERY SELECT 'expired'::text, s.id, NULL::uuid, s.user_id, NULL::text,
                NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::text, NULL::boolean;
            RETURN;
        END IF;
        IF writable AND now() - s.last_seen_at > interval '30 seconds' THEN
            UPDATE sessions SET last_seen_at = now() WHERE id = s.id;
        END IF;
    ELSE
        SELECT id, user_id, last_used_at, expires_at INTO s FROM api_keys
            WHERE token_hash = p_hash;
        IF NOT FOUND THEN
            RETURN QUERY SELECT 'missing'::text, NULL::uuid, NULL::uuid, NULL::uuid, NULL::text,
                NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::text, NULL::boolean;
            RETURN;
        END IF;
        IF s.expires_at <= now() THEN
            RETURN QUERY SELECT 'expired'::text, NULL::uuid, s.id, s.user_id, NULL::text,
                NULL::text, NULL::text, NULL::boolean, NULL::boolean, NULL::text, NULL::boolean;
            RETURN;
        END IF;
        IF writable AND (s.last_used_at IS NULL
                         OR now() - s.last_used_at > interval '30 seconds') THEN
            UPDATE api_keys SET last_used_at = now() WHERE id = s.id;
        END IF;
    END IF;
    SELECT us.id, us.username, us.role, us.access_scope, us.status, us.must_change_password,
           us.totp_required AND us.totp_secret IS NULL AS totp_setup, o.display_name, o.is_msp
        INTO u FROM users us JOIN orgs o ON o.id = us.org_id WHERE us.id = s.user_id;
    RETURN QUERY SELECT CASE WHEN u.status = 'active' THEN 'ok' ELSE 'disabled' END,
        CASE WHEN p_is_session THEN s.id END, CASE WHEN p_is_session THEN NULL ELSE s.id END,
        u.id, u.username, u.role, u.access_scope, u.must_change_password, u.totp_setup,
        u.display_name, u.is_msp;
END $$;
