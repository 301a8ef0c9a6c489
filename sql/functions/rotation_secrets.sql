-- requires: app_org_id, account_permissions, account_access
--
-- Remote password change (issue 29, server/services/rotation.py).
--
-- rotation_secrets: the ciphertexts an operation on a target needs — the account's current
-- password, its pending new one, and its resource's reconciliation account (same org,
-- same resource only) — handed out only while an operation holds the account
-- (account_rotation.busy, claimed in a transaction that records the operation's start),
-- in the caller's RLS org. The app role cannot select those columns otherwise.
CREATE OR REPLACE FUNCTION rotation_secrets(p_account uuid)
RETURNS TABLE (password bytea, pending bytea, via_id uuid, via_username text,
               via_password bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT a.password, ar.pending, v.id, v.username, v.password
      FROM accounts a
      JOIN account_rotation ar ON ar.account_id = a.id AND ar.busy <> ''
      LEFT JOIN resource_connections c ON c.resource_id = a.resource_id
      LEFT JOIN accounts v ON v.id = c.reconciliation_account_id
                          AND v.resource_id = a.resource_id AND v.org_id = a.org_id
                          AND v.id <> a.id
     WHERE a.id = p_account AND a.org_id = app_org_id()
$$;
REVOKE ALL ON FUNCTION rotation_secrets(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rotation_secrets(uuid) TO :"app_role";

-- reveal_password_history: one earlier password of an account, for a user with full
-- permission on it (owner or 'full'), outside another's exclusive check-out and, under
-- access control, inside the user's own check-out (the rule reveal_account applies);
-- records password_history_revealed in the same statement. access: 'ok', 'forbidden'
-- (permission below full), 'held' or 'request_required'; no row: no such entry or not
-- entitled at all.
CREATE OR REPLACE FUNCTION reveal_password_history(p_history uuid, p_user uuid, p_org uuid,
                                                   p_scope_all boolean, p_actor text,
                                                   p_actor_org text, p_ip text, p_node text,
                                                   p_reason text)
RETURNS TABLE (password bytea, account_id uuid, access text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r record;
    acc record;
    v_event bigint;
BEGIN
    PERFORM set_config('app.org_id', p_org::text, true);
    SELECT h.password, h.account_id, h.replaced_at, a.username, a.resource_id, a.connect_only,
           p.permission, res.name AS resource INTO r
      FROM password_history h
      JOIN accounts a ON a.id = h.account_id
      JOIN resources res ON res.id = a.resource_id
      JOIN account_permissions(p_user, p_org, p_scope_all) p ON p.account_id = h.account_id
     WHERE h.id = p_history;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF r.permission NOT IN ('full', 'owner') THEN
        RETURN QUERY SELECT NULL::bytea, r.account_id, 'forbidden'::text;
        RETURN;
    END IF;
    -- The reveal's own rules of the org's reason and of "connect only" (use_account).
    IF coalesce(p_reason, '') = '' AND EXISTS (SELECT 1 FROM orgs o
                                               WHERE o.id = p_org AND o.require_reveal_reason) THEN
        RETURN QUERY SELECT NULL::bytea, r.account_id, 'reason_required'::text;
        RETURN;
    END IF;
    SELECT * INTO acc FROM account_access(r.account_id, r.resource_id, p_user);
    IF acc.controlled AND NOT acc.mine THEN
        RETURN QUERY SELECT NULL::bytea, r.account_id,
            CASE WHEN acc.holder IS NOT NULL AND acc.exclusive THEN 'held'
                 ELSE 'request_required' END;
        RETURN;
    END IF;
    IF r.connect_only THEN
        RETURN QUERY SELECT NULL::bytea, r.account_id, 'connect_only'::text;
        RETURN;
    END IF;
    INSERT INTO audit_events (org_id, at, actor, actor_org, ip, operation, target_type,
                              target, outcome, reason, details, node)
    VALUES (p_org, clock_timestamp(), p_actor, p_actor_org, p_ip, 'password_history_revealed',
            'account', r.resource || '/' || r.username, 'success', nullif(p_reason, ''),
            jsonb_build_object('account_id', r.account_id, 'history_id', p_history,
                               'replaced_at', r.replaced_at, 'permission', r.permission),
            p_node)
    RETURNING id INTO v_event;
    INSERT INTO audit_pending (event_id, org_id) VALUES (v_event, p_org);
    RETURN QUERY SELECT r.password, r.account_id, 'ok'::text;
END $$;
REVOKE ALL ON FUNCTION reveal_password_history(uuid, uuid, uuid, boolean, text, text, text,
                                               text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reveal_password_history(uuid, uuid, uuid, boolean, text, text,
                                                  text, text, text) TO :"app_role";

-- rotation_orgs: the orgs the schedule has work in — those with a resource connection or
-- an operation holding an account — read across orgs by the owner's policies
-- (resource_connections_owner, account_rotation_owner; sql/033): org ids only.
CREATE OR REPLACE FUNCTION rotation_orgs() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT org_id FROM resource_connections
    UNION
    SELECT org_id FROM account_rotation WHERE busy <> ''
$$;
REVOKE ALL ON FUNCTION rotation_orgs() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rotation_orgs() TO :"app_role";
