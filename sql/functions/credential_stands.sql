-- Whether the credential a request was authenticated with a moment before still stands
-- (issue 28): its user is still active, and its session (p_session) or API key
-- (p_api_key) still exists and has not expired. NULL when it stands, else why not:
-- 'user_disabled' or 'credential_ended' (a logout, a disable or a password change
-- deleted the session; the key was deleted). authenticate_token decides a token at the
-- door (idle time, last-seen, expiry); this is asked again inside a statement that hands
-- out a secret (reveal_account), so that a disable or a logout that committed before the
-- statement began stops it even when the request was authenticated before. NULL ids (a
-- session this node keeps in memory, server/node/local_state.py) check the user only.
-- Called in the home org's RLS context (app.org_id = the user's org). PL/pgSQL so that
-- its plans are kept per connection.
CREATE OR REPLACE FUNCTION credential_stands(p_user uuid, p_session uuid, p_api_key uuid)
RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p_user AND u.status = 'active') THEN
        RETURN 'user_disabled';
    END IF;
    IF p_session IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM sessions s
            WHERE s.id = p_session AND s.user_id = p_user AND s.expires_at > now()) THEN
        RETURN 'credential_ended';
    END IF;
    IF p_api_key IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM api_keys k
            WHERE k.id = p_api_key AND k.user_id = p_user AND k.expires_at > now()) THEN
        RETURN 'credential_ended';
    END IF;
    RETURN NULL;
END $$;
GRANT EXECUTE ON FUNCTION credential_stands(uuid, uuid, uuid) TO :"app_role";
