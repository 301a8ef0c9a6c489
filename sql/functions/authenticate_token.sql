-- requires: database_may_write, totp_policy_requires
--
-- Authenticate a bearer token in one round trip: set the org's RLS context, find the
-- session (or API key) and its user, refresh last-seen at most every 30 s, and end an
-- expired session. status: ok, missing, expired, disabled. An API key past its expiry
-- answers 'expired' (sql/020). A user whose org's policy requires TOTP (or whose own
-- totp_required does) and who has none gets totp_setup_required (issue 27). A node that may not write (database_may_write) neither
-- refreshes last-seen times nor deletes expired sessions (sql/006, sql/008).
--
-- authenticate_tokens: the same for tokens that arrive together, applied in one statement
-- (and one commit); each element goes through authenticate_token() (sql/007).
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
    writable boolean := database_may_write();  -- sql/008: a fenced primary reads too
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
           (us.totp_required OR totp_policy_requires(o.totp_policy, us.role))
               AND us.totp_secret IS NULL AS totp_setup, o.display_name, o.is_msp,
           o.deleted_at IS NULL AS org_live
        INTO u FROM users us JOIN orgs o ON o.id = us.org_id WHERE us.id = s.user_id;
    -- A deleted org's users (issue 27: its recovery window) are refused like disabled ones.
    RETURN QUERY SELECT CASE WHEN u.status = 'active' AND u.org_live THEN 'ok'
                             ELSE 'disabled' END,
        CASE WHEN p_is_session THEN s.id END, CASE WHEN p_is_session THEN NULL ELSE s.id END,
        u.id, u.username, u.role, u.access_scope, u.must_change_password, u.totp_setup,
        u.display_name, u.is_msp;
END $$;
GRANT EXECUTE ON FUNCTION authenticate_token(uuid, bytea, boolean, interval) TO :"app_role";

CREATE OR REPLACE FUNCTION authenticate_tokens(p_orgs uuid[], p_hashes bytea[], p_is_sessions boolean[],
                                    p_idles interval[])
RETURNS TABLE (idx integer, status text, session_id uuid, api_key_id uuid, user_id uuid,
               username text, role text, access_scope text, must_change_password boolean,
               totp_setup_required boolean, org_display_name text, org_is_msp boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_orgs, 1), 0) LOOP
        RETURN QUERY SELECT i, t.status, t.session_id, t.api_key_id, t.user_id, t.username,
                            t.role, t.access_scope, t.must_change_password,
                            t.totp_setup_required, t.org_display_name, t.org_is_msp
            FROM authenticate_token(p_orgs[i], p_hashes[i], p_is_sessions[i], p_idles[i]) t;
    END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION authenticate_tokens(uuid[], bytea[], boolean[], interval[])
    TO :"app_role";
