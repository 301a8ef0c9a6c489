-- Password access control (server/services/password_requests.py): sensitive accounts are
-- revealed only during an approved, time-limited check-out.

-- Who set a user's credentials (created it or set its password), then who set theirs, and
-- so on: the whole chain, kept with the user so deleting a link cannot break it
-- (server/services/dual_control.py).
ALTER TABLE users ADD COLUMN credential_chain uuid[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(credential_chain) <= 64);

-- Access control of one account, or of a resource as the default for its accounts (an
-- account's own row, enabled or not, wins over its resource's).
CREATE TABLE access_controls (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id         uuid REFERENCES accounts (id) ON DELETE CASCADE,
    resource_id        uuid REFERENCES resources (id) ON DELETE CASCADE,
    enabled            boolean NOT NULL DEFAULT true,
    approver_users     uuid[] NOT NULL DEFAULT '{}',
    approver_groups    uuid[] NOT NULL DEFAULT '{}',
    approvals_needed   integer NOT NULL DEFAULT 1 CHECK (approvals_needed BETWEEN 1 AND 5),
    max_window_minutes integer NOT NULL DEFAULT 60 CHECK (max_window_minutes BETWEEN 1 AND 10080),
    exclusive          boolean NOT NULL DEFAULT true,
    rotate_on_checkin  boolean NOT NULL DEFAULT false,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(account_id, resource_id) = 1)
);
CREATE UNIQUE INDEX access_controls_account ON access_controls (account_id)
    WHERE account_id IS NOT NULL;
CREATE UNIQUE INDEX access_controls_resource ON access_controls (resource_id)
    WHERE resource_id IS NOT NULL;

CREATE TABLE password_requests (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    requester_id    uuid NOT NULL,
    requester_name  text NOT NULL,
    requester_org   text NOT NULL,
    reason          text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    window_minutes  integer NOT NULL CHECK (window_minutes BETWEEN 1 AND 10080),
    status          text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn',
                                          'expired', 'checked_in')),
    decision_reason text NOT NULL DEFAULT '' CHECK (length(decision_reason) <= 2000),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    starts_at       timestamptz,
    ends_at         timestamptz,
    checked_in_at   timestamptz,
    checked_in_by   text NOT NULL DEFAULT ''
);
CREATE INDEX password_requests_account ON password_requests (account_id, status);
CREATE INDEX password_requests_org ON password_requests (org_id, status);

CREATE TABLE password_request_approvals (
    org_id       uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    request_id   uuid NOT NULL REFERENCES password_requests (id) ON DELETE CASCADE,
    approver_id  uuid NOT NULL,
    approver_name text NOT NULL,
    approved_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, approver_id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['access_controls', 'password_requests',
                             'password_request_approvals'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON access_controls, password_requests,
    password_request_approvals TO :"app_role";

-- The access state of one account for one user (in the org's RLS context): whether it is
-- under access control, and who holds it until when. THE check-out rule: under control,
-- a user may use the password only inside its own approved, open window; with exclusive
-- check-out only one window is open at a time.
CREATE FUNCTION account_access(p_account uuid, p_resource uuid, p_user uuid)
RETURNS TABLE (controlled boolean, exclusive boolean, rotate boolean, mine boolean,
               holder text, holder_org text, held_until timestamptz, request_id uuid)
LANGUAGE sql STABLE AS $$
    WITH ctl AS (
        SELECT c.enabled, c.exclusive, c.rotate_on_checkin FROM access_controls c
         WHERE c.account_id = p_account OR (c.resource_id = p_resource)
         ORDER BY (c.account_id IS NOT NULL) DESC LIMIT 1
    ), holds AS (
        SELECT q.id, q.requester_id, q.requester_name, q.requester_org, q.ends_at
          FROM password_requests q
         WHERE q.account_id = p_account AND q.status = 'approved'
           AND q.starts_at <= now() AND now() < q.ends_at
    )
    SELECT coalesce((SELECT enabled FROM ctl), false),
           coalesce((SELECT exclusive FROM ctl), false),
           coalesce((SELECT rotate_on_checkin FROM ctl), false),
           EXISTS (SELECT 1 FROM holds WHERE requester_id = p_user),
           (SELECT requester_name FROM holds ORDER BY ends_at DESC LIMIT 1),
           (SELECT requester_org FROM holds ORDER BY ends_at DESC LIMIT 1),
           (SELECT ends_at FROM holds ORDER BY ends_at DESC LIMIT 1),
           (SELECT id FROM holds WHERE requester_id = p_user LIMIT 1)
$$;
GRANT EXECUTE ON FUNCTION account_access(uuid, uuid, uuid) TO :"app_role";

-- reveal_account (sql/006) with the check-out rule: an account under access control is
-- revealed only to a user inside its own approved window; otherwise no ciphertext and no
-- event, and ``access`` says why (request_required, or held by someone else).
DROP FUNCTION reveal_accounts(uuid[], uuid[], uuid[], boolean[], text[], text[], text[],
                              text[], text[]);
DROP FUNCTION reveal_account(uuid, uuid, uuid, boolean, text, text, text, text, text);
CREATE FUNCTION reveal_account(p_account uuid, p_user uuid, p_org uuid, p_all boolean,
                               p_actor text, p_actor_org text, p_ip text, p_reason text,
                               p_node text)
RETURNS TABLE (password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text, audited boolean, access text, holder text,
               held_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r record;
    acc record;
    v_event bigint;
BEGIN
    PERFORM set_config('app.org_id', p_org::text, true);
    SELECT a.password, a.notes, p.permission, a.resource_id, a.username, a.policy INTO r
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
            CASE WHEN acc.exclusive THEN acc.held_until END;
        RETURN;
    END IF;
    -- A hot standby cannot write: the server spools the event (fsync'd) before it
    -- decrypts anything, and ships it to the primary later.
    IF pg_is_in_recovery() THEN
        RETURN QUERY SELECT r.password, r.notes, r.permission, r.resource_id, r.username,
            r.policy, false, 'ok'::text, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    INSERT INTO audit_events (org_id, at, actor, actor_org, ip, operation, target_type,
                              target, outcome, reason, details, node)
    VALUES (p_org, clock_timestamp(), p_actor, p_actor_org, p_ip, 'password_revealed',
            'account', r.username || '@' || r.resource_id, 'success', p_reason,
            jsonb_build_object('account_id', p_account, 'permission', r.permission,
                               'checked_out', acc.controlled), p_node)
    RETURNING id INTO v_event;
    INSERT INTO audit_pending (event_id, org_id) VALUES (v_event, p_org);
    RETURN QUERY SELECT r.password, r.notes, r.permission, r.resource_id, r.username, r.policy,
        true, 'ok'::text, NULL::text, NULL::timestamptz;
END $$;
REVOKE ALL ON FUNCTION reveal_account(uuid, uuid, uuid, boolean, text, text, text, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reveal_account(uuid, uuid, uuid, boolean, text, text, text, text,
                                         text) TO :"app_role";

CREATE FUNCTION reveal_accounts(p_accounts uuid[], p_users uuid[], p_orgs uuid[],
                                p_alls boolean[], p_actors text[], p_actor_orgs text[],
                                p_ips text[], p_reasons text[], p_nodes text[])
RETURNS TABLE (idx integer, password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text, audited boolean, access text, holder text,
               held_until timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_accounts, 1), 0) LOOP
        RETURN QUERY SELECT i, r.password, r.notes, r.permission, r.resource_id, r.username,
                            r.policy, r.audited, r.access, r.holder, r.held_until
            FROM reveal_account(p_accounts[i], p_users[i], p_orgs[i], p_alls[i], p_actors[i],
                                p_actor_orgs[i], p_ips[i], p_reasons[i], p_nodes[i]) r;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION reveal_accounts(uuid[], uuid[], uuid[], boolean[], text[], text[],
                                       text[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reveal_accounts(uuid[], uuid[], uuid[], boolean[], text[], text[],
                                          text[], text[], text[]) TO :"app_role";

-- Open check-outs across orgs, so the sweeper finds ended windows without visiting every
-- org: ids and times only (no names, no secrets), readable by the server in any context;
-- written only in the org's own context.
CREATE TABLE open_checkouts (
    request_id uuid PRIMARY KEY REFERENCES password_requests (id) ON DELETE CASCADE,
    org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    ends_at    timestamptz NOT NULL
);
CREATE INDEX open_checkouts_ends ON open_checkouts (ends_at);
ALTER TABLE open_checkouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE open_checkouts FORCE ROW LEVEL SECURITY;
CREATE POLICY open_checkouts_read ON open_checkouts FOR SELECT USING (true);
CREATE POLICY open_checkouts_insert ON open_checkouts FOR INSERT
    WITH CHECK (org_id = app_org_id());
CREATE POLICY open_checkouts_delete ON open_checkouts FOR DELETE USING (org_id = app_org_id());
GRANT SELECT, INSERT, DELETE ON open_checkouts TO :"app_role";
