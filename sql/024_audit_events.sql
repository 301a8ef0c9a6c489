-- A reveal's audit event is built in one place, password_revealed_event, whether the
-- database records it (reveal_account, on a node that may write) or the server spools it
-- (server/services/vault.py asks spooled_reveal_event, on a standby or a fenced primary).
-- Before, the spooled copy lacked the checked_out detail (issue 25).

-- The event of one reveal: operation, target as people read it ('<resource>/<account>')
-- and details. LANGUAGE sql, STABLE, no SET and not STRICT, so the planner inlines it into
-- reveal_account's INSERT (the hot path keeps one statement per batch of reveals).
CREATE OR REPLACE FUNCTION password_revealed_event(p_account uuid, p_resource uuid,
                                                   p_username text, p_permission text,
                                                   p_checked_out boolean)
RETURNS TABLE (operation text, target_type text, target text, details jsonb)
LANGUAGE sql STABLE AS $$
    SELECT 'password_revealed'::text, 'account'::text,
           coalesce((SELECT r.name FROM resources r WHERE r.id = p_resource),
                    p_resource::text) || '/' || p_username,
           jsonb_build_object('account_id', p_account, 'permission', p_permission,
                              'checked_out', p_checked_out)
$$;
GRANT EXECUTE ON FUNCTION password_revealed_event(uuid, uuid, text, text, boolean)
    TO :"app_role";

-- The event a node that cannot write spools for a reveal reveal_account answered with
-- audited = false: the same builder, checked_out read as reveal_account reads it
-- (account_access, sql/013). Read-only; called in the org's RLS context.
CREATE OR REPLACE FUNCTION spooled_reveal_event(p_account uuid, p_resource uuid,
                                                p_username text, p_permission text,
                                                p_user uuid)
RETURNS TABLE (operation text, target_type text, target text, details jsonb)
LANGUAGE sql STABLE AS $$
    SELECT e.operation, e.target_type, e.target, e.details
      FROM account_access(p_account, p_resource, p_user) acc,
           password_revealed_event(p_account, p_resource, p_username, p_permission,
                                   acc.controlled) e
$$;
GRANT EXECUTE ON FUNCTION spooled_reveal_event(uuid, uuid, text, text, uuid) TO :"app_role";

-- reveal_account as in sql/014 (entitlement, check-out and fenced-read rules, secret
-- additional fields), its event now from password_revealed_event.
CREATE OR REPLACE FUNCTION reveal_account(p_account uuid, p_user uuid, p_org uuid,
                                          p_all boolean, p_actor text, p_actor_org text,
                                          p_ip text, p_reason text, p_node text)
RETURNS TABLE (password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text, audited boolean, access text, holder text,
               held_until timestamptz, secret_fields bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r record;
    acc record;
    v_event bigint;
BEGIN
    PERFORM set_config('app.org_id', p_org::text, true);
    SELECT a.password, a.notes, p.permission, a.resource_id, a.username, a.policy,
           a.secret_fields INTO r
        FROM account_permissions(p_user, p_org, p_all) p
        JOIN accounts a ON a.id = p.account_id
        WHERE p.account_id = p_account;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO acc FROM account_access(p_account, r.resource_id, p_user);
    IF acc.controlled AND NOT acc.mine THEN
        RETURN QUERY SELECT NULL::bytea, NULL::bytea, r.permission, r.resource_id, r.username,
            r.policy, false,
            CASE WHEN acc.exclusive AND acc.holder IS NOT NULL THEN 'held'
                 ELSE 'request_required' END,
            CASE WHEN acc.exclusive THEN acc.holder || '@' || acc.holder_org END,
            CASE WHEN acc.exclusive THEN acc.held_until END, NULL::bytea;
        RETURN;
    END IF;
    -- A node that cannot write spools the event (fsync'd) before it
    -- decrypts anything, and ships it to the primary later.
    IF NOT database_may_write() THEN  -- a standby or a fenced primary (sql/008)
        RETURN QUERY SELECT r.password, r.notes, r.permission, r.resource_id, r.username,
            r.policy, false, 'ok'::text, NULL::text, NULL::timestamptz, r.secret_fields;
        RETURN;
    END IF;
    INSERT INTO audit_events (org_id, at, actor, actor_org, ip, operation, target_type,
                              target, outcome, reason, details, node)
    SELECT p_org, clock_timestamp(), p_actor, p_actor_org, p_ip, e.operation, e.target_type,
           e.target, 'success', p_reason, e.details, p_node
      FROM password_revealed_event(p_account, r.resource_id, r.username, r.permission,
                                   acc.controlled) e
    RETURNING id INTO v_event;
    INSERT INTO audit_pending (event_id, org_id) VALUES (v_event, p_org);
    RETURN QUERY SELECT r.password, r.notes, r.permission, r.resource_id, r.username, r.policy,
        true, 'ok'::text, NULL::text, NULL::timestamptz, r.secret_fields;
END $$;
