-- Per-org settings the guide replicates from MSPOrg to client orgs
-- (server/services/org_settings.py, server/services/replication_settings.py):
-- custom roles, resource types, additional field definitions, user group settings, and
-- the MSP's replication choice. A replicated object remembers its MSPOrg original
-- (replicated_from), so applying twice changes nothing and later applies update it.

-- Custom roles: a name and a set of the built-in permissions (server/permissions.py).
CREATE TABLE roles (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (name ~ '^[A-Za-z][A-Za-z0-9_-]{0,63}$'),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    permissions     text[] NOT NULL DEFAULT '{}',
    replicated_from uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX roles_org_name ON roles (org_id, name);
-- A user's role is a built-in one or a role of its own org.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_name CHECK (role ~ '^[A-Za-z][A-Za-z0-9_-]{0,63}$');

-- Resource types beyond the built-in catalogue (server/services/org_settings.py).
CREATE TABLE resource_types (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    replicated_from uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX resource_types_org_name ON resource_types (org_id, name_fold(name));

-- Additional field definitions for resources (all, or one type's) and accounts.
CREATE TABLE field_definitions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    applies_to      text NOT NULL CHECK (applies_to IN ('resource', 'account')),
    resource_type   text NOT NULL DEFAULT '' CHECK (length(resource_type) <= 64),
    name            text NOT NULL CHECK (name ~ '^[A-Za-z][A-Za-z0-9_]{0,63}$'),
    kind            text NOT NULL CHECK (kind IN ('text', 'number', 'date', 'choice', 'secret')),
    required        boolean NOT NULL DEFAULT false,
    default_value   text,
    choices         text[] NOT NULL DEFAULT '{}',
    replicated_from uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'secret' OR applies_to = 'account'),
    CHECK (kind <> 'secret' OR default_value IS NULL)
);
CREATE UNIQUE INDEX field_definitions_org_name
    ON field_definitions (org_id, applies_to, resource_type, lower(name));

-- Additional field values of accounts; secret ones are sealed like passwords and sit in
-- secret_fields (one AES-GCM blob of a JSON object), which the app role cannot read.
ALTER TABLE accounts ADD COLUMN fields jsonb NOT NULL DEFAULT '{}';
ALTER TABLE accounts ADD COLUMN secret_fields bytea;
GRANT SELECT (fields) ON accounts TO :"app_role";

-- User group settings: what a group carries besides its members.
ALTER TABLE user_groups ADD COLUMN default_permission text NOT NULL DEFAULT 'view'
    CHECK (default_permission IN ('view', 'modify', 'full'));
ALTER TABLE user_groups ADD COLUMN replicated_from uuid;
ALTER TABLE resource_groups ADD COLUMN replicated_from uuid;
ALTER TABLE password_policies ADD COLUMN replicated_from uuid;
ALTER TABLE shares ADD COLUMN replicated_from uuid;

-- The MSP's choice of what to replicate (MSPOrg's tenancy).
CREATE TABLE replication_settings (
    org_id        uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
    categories    text[] NOT NULL DEFAULT '{}',
    role_conflict text NOT NULL DEFAULT 'rename' CHECK (role_conflict IN ('overwrite', 'rename')),
    applied_at    timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['roles', 'resource_types', 'field_definitions',
                             'replication_settings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON roles, resource_types, field_definitions,
    replication_settings TO :"app_role";

-- reveal_account: the entitlement rule (sql/010), the check-out rule (account_access,
-- sql/013) and the fenced-read rule (database_may_write, sql/008); it hands out the
-- account's secret additional fields with the password, and its audit event names the
-- target as people read it, '<resource>/<account>'.
DROP FUNCTION reveal_accounts(uuid[], uuid[], uuid[], boolean[], text[], text[], text[],
                              text[], text[]);
DROP FUNCTION reveal_account(uuid, uuid, uuid, boolean, text, text, text, text, text);
CREATE FUNCTION reveal_account(p_account uuid, p_user uuid, p_org uuid, p_all boolean,
                               p_actor text, p_actor_org text, p_ip text, p_reason text,
                               p_node text)
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
    VALUES (p_org, clock_timestamp(), p_actor, p_actor_org, p_ip, 'password_revealed',
            'account', coalesce((SELECT name FROM resources WHERE id = r.resource_id),
                       r.resource_id::text) || '/' || r.username, 'success', p_reason,
            jsonb_build_object('account_id', p_account, 'permission', r.permission,
                               'checked_out', acc.controlled), p_node)
    RETURNING id INTO v_event;
    INSERT INTO audit_pending (event_id, org_id) VALUES (v_event, p_org);
    RETURN QUERY SELECT r.password, r.notes, r.permission, r.resource_id, r.username, r.policy,
        true, 'ok'::text, NULL::text, NULL::timestamptz, r.secret_fields;
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
               held_until timestamptz, secret_fields bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_accounts, 1), 0) LOOP
        RETURN QUERY SELECT i, r.password, r.notes, r.permission, r.resource_id, r.username,
                            r.policy, r.audited, r.access, r.holder, r.held_until,
                            r.secret_fields
            FROM reveal_account(p_accounts[i], p_users[i], p_orgs[i], p_alls[i], p_actors[i],
                                p_actor_orgs[i], p_ips[i], p_reasons[i], p_nodes[i]) r;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION reveal_accounts(uuid[], uuid[], uuid[], boolean[], text[], text[],
                                       text[], text[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reveal_accounts(uuid[], uuid[], uuid[], boolean[], text[], text[],
                                          text[], text[], text[]) TO :"app_role";

