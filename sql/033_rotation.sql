-- Passwords changed on the systems they open (issue 29): a resource's connection to its
-- target (connector, host, port, pinned host key, reconciliation account), rotation and
-- verification schedules (per account, resource or resource group), each account's
-- rotation state (one operation at a time, the sealed pending password between the two
-- phases, the last outcomes) and its password history (sealed, revealed only through
-- reveal_password_history, sql/functions/rotation_secrets.sql).

CREATE TABLE resource_connections (
    resource_id    uuid PRIMARY KEY,
    org_id         uuid NOT NULL,
    connector      text NOT NULL CHECK (length(connector) BETWEEN 1 AND 64),
    host           text NOT NULL CHECK (length(host) BETWEEN 1 AND 255),
    port           integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    -- The target's pinned key (SSH: 'SHA256:...'); '' = not yet confirmed: nothing is
    -- sent to the target until an administrator confirms one.
    host_key       text NOT NULL DEFAULT '' CHECK (length(host_key) <= 200),
    host_key_set_by text NOT NULL DEFAULT '' CHECK (length(host_key_set_by) <= 300),
    -- An account of the same resource that changes the others' passwords (root, a
    -- sudoer, a database superuser); NULL: each account changes its own.
    reconciliation_account_id uuid REFERENCES accounts (id) ON DELETE SET NULL,
    options        jsonb NOT NULL DEFAULT '{}',
    max_parallel   integer NOT NULL DEFAULT 4 CHECK (max_parallel BETWEEN 1 AND 64),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, resource_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
);

CREATE TABLE rotation_schedules (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id             uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id         uuid REFERENCES accounts (id) ON DELETE CASCADE,
    resource_id        uuid REFERENCES resources (id) ON DELETE CASCADE,
    resource_group_id  uuid REFERENCES resource_groups (id) ON DELETE CASCADE,
    rotate_every_days  integer CHECK (rotate_every_days BETWEEN 1 AND 3650),
    verify_every_hours integer CHECK (verify_every_hours BETWEEN 1 AND 8760),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(account_id, resource_id, resource_group_id) = 1)
);
CREATE UNIQUE INDEX rotation_schedules_account ON rotation_schedules (account_id)
    WHERE account_id IS NOT NULL;
CREATE UNIQUE INDEX rotation_schedules_resource ON rotation_schedules (resource_id)
    WHERE resource_id IS NOT NULL;
CREATE UNIQUE INDEX rotation_schedules_group ON rotation_schedules (resource_group_id)
    WHERE resource_group_id IS NOT NULL;
CREATE INDEX rotation_schedules_org ON rotation_schedules (org_id);

CREATE TABLE account_rotation (
    account_id         uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    org_id             uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    -- One operation per account at a time: 'change' or 'verify' while one runs.
    busy               text NOT NULL DEFAULT '' CHECK (busy IN ('', 'change', 'verify')),
    busy_since         timestamptz,
    busy_node          text NOT NULL DEFAULT '',
    -- The new password between "sealed" and "made current" (never selected by the app
    -- role: rotation_secrets hands it to the operation holding the account).
    pending            bytea,
    pending_since      timestamptz,
    last_change_at     timestamptz,
    last_change_ok     boolean,
    last_change_reason text NOT NULL DEFAULT '' CHECK (length(last_change_reason) <= 500),
    last_verify_at     timestamptz,
    last_verify_ok     boolean,
    last_verify_reason text NOT NULL DEFAULT '' CHECK (length(last_verify_reason) <= 500),
    -- A change asked for (a check-in with rotation) and not yet made on the target: the
    -- scheduler retries it at retry_at, with backoff.
    change_due         boolean NOT NULL DEFAULT false,
    failures           integer NOT NULL DEFAULT 0,
    retry_at           timestamptz
);
CREATE INDEX account_rotation_org ON account_rotation (org_id);

CREATE TABLE password_history (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id  uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    password    bytea NOT NULL,
    replaced_at timestamptz NOT NULL DEFAULT now(),
    replaced_by text NOT NULL CHECK (length(replaced_by) <= 300),
    how         text NOT NULL CHECK (how IN ('reset', 'rotation', 'checkin'))
);
CREATE INDEX password_history_account ON password_history (account_id, replaced_at DESC);
CREATE INDEX password_history_org ON password_history (org_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['resource_connections', 'rotation_schedules', 'account_rotation',
                             'password_history'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON resource_connections, rotation_schedules
    TO :"app_role";
GRANT SELECT (account_id, org_id, busy, busy_since, busy_node, pending_since, last_change_at,
              last_change_ok, last_change_reason, last_verify_at, last_verify_ok,
              last_verify_reason, change_due, failures, retry_at) ON account_rotation TO :"app_role";
GRANT INSERT, UPDATE, DELETE ON account_rotation TO :"app_role";
GRANT SELECT (id, org_id, account_id, replaced_at, replaced_by, how) ON password_history
    TO :"app_role";
GRANT INSERT, DELETE ON password_history TO :"app_role";

-- The schedule finds the orgs it has work in without visiting every org: the owner (and
-- so rotation_orgs(), sql/functions/rotation_secrets.sql) reads org ids across orgs.
CREATE POLICY resource_connections_owner ON resource_connections FOR SELECT TO CURRENT_USER
    USING (true);
CREATE POLICY account_rotation_owner ON account_rotation FOR SELECT TO CURRENT_USER
    USING (true);
