-- Reveals (and token checks) that arrive together are applied in one statement (and one commit): the server
-- queues concurrent reveals and sends them as arrays. Each element goes through
-- reveal_account() unchanged (the entitlement rule and its audit event); an element the
-- caller may not reveal yields no row.
CREATE FUNCTION reveal_accounts(p_accounts uuid[], p_users uuid[], p_orgs uuid[],
                                p_alls boolean[], p_actors text[], p_actor_orgs text[],
                                p_ips text[], p_reasons text[], p_nodes text[])
RETURNS TABLE (idx integer, password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text, audited boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_accounts, 1), 0) LOOP
        RETURN QUERY SELECT i, r.password, r.notes, r.permission, r.resource_id, r.username,
                            r.policy, r.audited
            FROM reveal_account(p_accounts[i], p_users[i], p_orgs[i], p_alls[i], p_actors[i],
                                p_actor_orgs[i], p_ips[i], p_reasons[i], p_nodes[i]) r;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION reveal_accounts(uuid[], uuid[], uuid[], boolean[], text[], text[],
                                       text[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reveal_accounts(uuid[], uuid[], uuid[], boolean[], text[], text[],
                                          text[], text[], text[]) TO :"app_role";

-- The same for authentication: each element goes through authenticate_token().
CREATE FUNCTION authenticate_tokens(p_orgs uuid[], p_hashes bytea[], p_is_sessions boolean[],
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
