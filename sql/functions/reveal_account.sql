-- requires: account_use_rule, database_may_write, password_revealed_event
--
-- The only way to read a secret, and it is audited: in one statement (its own
-- transaction when called alone) it resolves the org the URL names (p_org_name, by display
-- name, case-insensitive), checks that the request's credential still stands
-- (credential_stands: p_user active, its session p_session or API key p_api_key not
-- ended), applies the reach rule (org_reach: p_user of home org p_home may act there),
-- the org's reveal-reason setting, the entitlement rule (account_permission; p_scope_all:
-- the actor's access scope is 'all', which counts in its home org only, as
-- entitlement.scope_all says), the check-out rule (account_access) and the fenced-read
-- rule (database_may_write), records a password_revealed event (built by
-- password_revealed_event) for the chainer, and returns the account's ciphertexts with
-- its secret additional fields and the org's id and display name.
--
-- access tells the outcome: 'ok' (ciphertexts given); refused, with no ciphertext and no
-- event: 'credential_ended', 'user_disabled' (credential_stands), 'no_org' (no such org,
-- or out of reach: answered alike), 'reason_required', 'held' / 'request_required'
-- (check-out), 'connect_only' (a reveal of a connect-only account). No row: no such
-- account, or not entitled.
-- Runs as the owner (who may read the secret columns) inside p_org's RLS context. The
-- server decrypts afterwards and records a failure event if the ciphertext does not
-- authenticate. The event names the target as people read it, '<resource>/<account>'.
-- audited is false when the database did not record the event (a standby or a fenced
-- primary): the server spools exactly one event per reveal.
--
-- reveal_accounts: reveals that arrive together, applied in one statement (and one
-- commit); each element goes through reveal_account() unchanged, and an element the
-- caller may not reveal yields no row (sql/007).
--
-- (sql/005, 006, 008, 014, 023, 031. Their return type changed and their arguments
-- too; CREATE OR REPLACE cannot change either, so such a change needs a numbered
-- migration that drops both, as sql/023 and sql/031 did.)
--
-- use_account: reveal_account for a purpose (issue 30): 'reveal' (the password shown:
-- refused with 'connect_only' for an account set so) or 'connect' (a brokered session
-- through the SSH gateway: the same reach, reason, entitlement and check-out decisions;
-- its event is session_started, with p_details merged in). reveal_account is
-- use_account('reveal', ...). The decision itself is account_use_rule's (one call, in this
-- statement's snapshot; sql/functions/account_use_rule.sql): the gateway asks the same
-- rule again, without the event, while a session runs (account_use_allowed).
CREATE OR REPLACE FUNCTION use_account(p_purpose text, p_details jsonb, p_account uuid,
                                       p_user uuid, p_home uuid,
                                          p_org_name text, p_scope_all boolean,
                                          p_session uuid, p_api_key uuid, p_actor text,
                                          p_actor_org text, p_ip text, p_reason text,
                                          p_node text)
RETURNS TABLE (password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text, audited boolean, access text, holder text,
               held_until timestamptz, secret_fields bytea, org_id uuid, org_name text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    u record;
    v_event bigint;
BEGIN
    -- THE rule (sql/functions/account_use_rule.sql): credential, reach, the org's reason,
    -- entitlement, check-out, connect only; decided in this statement's snapshot, which
    -- reads the account too (its ciphertexts come back with an 'ok').
    u := account_use_rule(p_purpose, p_account, p_user, p_home, p_org_name, NULL,
                          p_scope_all, p_session, p_api_key, p_reason);
    IF u.access = 'not_entitled' THEN  -- no such account, or not entitled: no row
        RETURN;
    END IF;
    IF u.access <> 'ok' THEN
        RETURN QUERY SELECT NULL::bytea, NULL::bytea, u.permission, u.resource_id, u.username,
            u.policy, false, u.access, u.holder, u.held_until, NULL::bytea, u.org_id,
            u.org_name;
        RETURN;
    END IF;
    -- A node that cannot write spools the event (fsync'd) before it
    -- decrypts anything, and ships it to the primary later.
    IF NOT database_may_write() THEN  -- a standby or a fenced primary (sql/008)
        RETURN QUERY SELECT u.password, u.notes, u.permission, u.resource_id, u.username,
            u.policy, false, 'ok'::text, NULL::text, NULL::timestamptz, u.secret_fields,
            u.org_id, u.org_name;
        RETURN;
    END IF;
    INSERT INTO audit_events (org_id, at, actor, actor_org, ip, operation, target_type,
                              target, outcome, reason, details, node)
    SELECT u.org_id, clock_timestamp(), p_actor, p_actor_org, p_ip,
           CASE WHEN p_purpose = 'connect' THEN 'session_started' ELSE e.operation END,
           e.target_type, e.target, 'success', p_reason,
           e.details || coalesce(p_details, '{}'::jsonb), p_node
      FROM password_revealed_event(p_account, u.resource_id, u.username, u.permission,
                                   u.controlled) e
    RETURNING id INTO v_event;
    INSERT INTO audit_pending (event_id, org_id) VALUES (v_event, u.org_id);
    RETURN QUERY SELECT u.password, u.notes, u.permission, u.resource_id, u.username, u.policy,
        true, 'ok'::text, NULL::text, NULL::timestamptz, u.secret_fields, u.org_id,
        u.org_name;
END $$;
REVOKE ALL ON FUNCTION use_account(text, jsonb, uuid, uuid, uuid, text, boolean, uuid, uuid,
                                   text, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION use_account(text, jsonb, uuid, uuid, uuid, text, boolean, uuid, uuid,
                                      text, text, text, text, text) TO :"app_role";

CREATE OR REPLACE FUNCTION reveal_account(p_account uuid, p_user uuid, p_home uuid,
                                          p_org_name text, p_scope_all boolean,
                                          p_session uuid, p_api_key uuid, p_actor text,
                                          p_actor_org text, p_ip text, p_reason text,
                                          p_node text)
RETURNS TABLE (password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text, audited boolean, access text, holder text,
               held_until timestamptz, secret_fields bytea, org_id uuid, org_name text)
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT * FROM use_account('reveal', NULL, p_account, p_user, p_home, p_org_name,
                              p_scope_all, p_session, p_api_key, p_actor, p_actor_org, p_ip,
                              p_reason, p_node)
$$;
REVOKE ALL ON FUNCTION reveal_account(uuid, uuid, uuid, text, boolean, uuid, uuid, text, text,
                                      text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reveal_account(uuid, uuid, uuid, text, boolean, uuid, uuid, text,
                                         text, text, text, text) TO :"app_role";

CREATE OR REPLACE FUNCTION reveal_accounts(p_accounts uuid[], p_users uuid[], p_homes uuid[],
                                           p_org_names text[], p_scope_alls boolean[],
                                           p_sessions uuid[], p_api_keys uuid[],
                                           p_actors text[], p_actor_orgs text[],
                                           p_ips text[], p_reasons text[], p_nodes text[])
RETURNS TABLE (idx integer, password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text, audited boolean, access text, holder text,
               held_until timestamptz, secret_fields bytea, org_id uuid, org_name text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_accounts, 1), 0) LOOP
        RETURN QUERY SELECT i, r.password, r.notes, r.permission, r.resource_id, r.username,
                            r.policy, r.audited, r.access, r.holder, r.held_until,
                            r.secret_fields, r.org_id, r.org_name
            FROM reveal_account(p_accounts[i], p_users[i], p_homes[i], p_org_names[i],
                                p_scope_alls[i], p_sessions[i], p_api_keys[i], p_actors[i],
                                p_actor_orgs[i], p_ips[i], p_reasons[i], p_nodes[i]) r;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION reveal_accounts(uuid[], uuid[], uuid[], text[], boolean[], uuid[],
                                       uuid[], text[], text[], text[], text[], text[])
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reveal_accounts(uuid[], uuid[], uuid[], text[], boolean[], uuid[],
                                          uuid[], text[], text[], text[], text[], text[])
    TO :"app_role";
