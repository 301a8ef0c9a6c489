-- requires: authenticate_token, reveal_account
--
-- Reveals that arrive together with their bearer tokens, in one statement and one commit
-- (issue 28: the token check joins the reveal, one round trip per request where there
-- were two). Each element authenticates its token exactly as the door does
-- (authenticate_token: the session or API key by p_hashes[i] in home org p_homes[i],
-- idle time p_idles[i], expiry, last-seen refresh, the user active and its org live,
-- the first-login gates) and only then, when the token is 'ok' and neither a password
-- change nor a TOTP enrolment is pending, reveals through use_account('reveal', ...), the
-- rule reveal_account() is (called directly: reveal_account is a SECURITY DEFINER wrapper
-- whose own entry cost 15 % of this statement's time, issue 28), with the actor the
-- token names (so the credential, reach, reason, entitlement,
-- check-out, fenced-read and audit rules all apply as before, in the same statement).
--
-- Every element answers one row, its idx: the token's outcome (status and the actor, as
-- authenticate_token answers them; actor_name / actor_org are the user's name and home
-- org's display name) and, when a reveal was tried, reveal_account's columns (access
-- NULL: no such account, or not entitled; no reveal tried: access NULL too, and the
-- server refuses by the status or the gate before it looks at the reveal).
CREATE OR REPLACE FUNCTION reveal_accounts_with_tokens(p_homes uuid[], p_hashes bytea[],
                                                       p_is_sessions boolean[],
                                                       p_idles interval[], p_accounts uuid[],
                                                       p_org_names text[], p_ips text[],
                                                       p_reasons text[], p_nodes text[])
RETURNS TABLE (idx integer, status text, session_id uuid, api_key_id uuid, user_id uuid,
               actor_name text, role text, access_scope text, must_change_password boolean,
               totp_setup_required boolean, actor_org text, actor_org_is_msp boolean,
               password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text, audited boolean, access text, holder text,
               held_until timestamptz, secret_fields bytea, org_id uuid, org_name text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    t record;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_homes, 1), 0) LOOP
        SELECT * INTO t
          FROM authenticate_token(p_homes[i], p_hashes[i], p_is_sessions[i], p_idles[i]);
        IF t.status = 'ok' AND NOT t.must_change_password AND NOT t.totp_setup_required THEN
            RETURN QUERY SELECT i, t.status, t.session_id, t.api_key_id, t.user_id,
                                t.username, t.role, t.access_scope, t.must_change_password,
                                t.totp_setup_required, t.org_display_name, t.org_is_msp,
                                r.password, r.notes, r.permission, r.resource_id, r.username,
                                r.policy, r.audited, r.access, r.holder, r.held_until,
                                r.secret_fields, r.org_id, r.org_name
                FROM use_account('reveal', NULL, p_accounts[i], t.user_id, p_homes[i],
                                 p_org_names[i], t.access_scope = 'all', t.session_id,
                                 t.api_key_id, t.username, t.org_display_name, p_ips[i],
                                 p_reasons[i], p_nodes[i]) r;
            IF FOUND THEN
                CONTINUE;
            END IF;
        END IF;
        RETURN QUERY SELECT i, t.status, t.session_id, t.api_key_id, t.user_id, t.username,
                            t.role, t.access_scope, t.must_change_password,
                            t.totp_setup_required, t.org_display_name, t.org_is_msp,
                            NULL::bytea, NULL::bytea, NULL::text, NULL::uuid, NULL::text,
                            NULL::text, false, NULL::text, NULL::text, NULL::timestamptz,
                            NULL::bytea, NULL::uuid, NULL::text;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION reveal_accounts_with_tokens(uuid[], bytea[], boolean[], interval[],
                                                   uuid[], text[], text[], text[], text[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reveal_accounts_with_tokens(uuid[], bytea[], boolean[], interval[],
                                                      uuid[], text[], text[], text[], text[])
    TO :"app_role";
