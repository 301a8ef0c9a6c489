-- The vault: resources, accounts (encrypted passwords and notes), resource groups,
-- shares, password policies, and the entitlement rule.
--
-- Entitlement lives in one SQL function, account_permissions(); the server's
-- entitlement module calls it, and secrets (password and notes ciphertext) can only be
-- read through reveal_account(), which applies the same rule: the app role has no
-- SELECT privilege on those two columns at all.

ALTER TABLE orgs ADD COLUMN require_reveal_reason boolean NOT NULL DEFAULT false;

CREATE TABLE resources (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type        text NOT NULL CHECK (length(type) BETWEEN 1 AND 64),
    url         text NOT NULL DEFAULT '' CHECK (length(url) <= 2000),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    department  text NOT NULL DEFAULT '' CHECK (length(department) <= 200),
    location    text NOT NULL DEFAULT '' CHECK (length(location) <= 200),
    fields      jsonb NOT NULL DEFAULT '{}',
    owner_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX resources_org_name ON resources (org_id, lower(name));
CREATE INDEX resources_owner ON resources (org_id, owner_id);

CREATE TABLE password_policies (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    min_length      integer NOT NULL CHECK (min_length BETWEEN 1 AND 1024),
    max_length      integer NOT NULL CHECK (max_length BETWEEN min_length AND 1024),
    require_upper   boolean NOT NULL DEFAULT false,
    require_lower   boolean NOT NULL DEFAULT false,
    require_digit   boolean NOT NULL DEFAULT false,
    require_special boolean NOT NULL DEFAULT false,
    max_age_days    integer CHECK (max_age_days IS NULL OR max_age_days > 0),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX password_policies_org_name ON password_policies (org_id, lower(name));

CREATE TABLE accounts (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id              uuid NOT NULL,
    resource_id         uuid NOT NULL,
    username            text NOT NULL CHECK (length(username) BETWEEN 1 AND 200),
    password            bytea NOT NULL,
    notes               bytea,
    policy              text NOT NULL DEFAULT 'Strong',
    owner_id            uuid REFERENCES users (id) ON DELETE SET NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (org_id, resource_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX accounts_resource_username ON accounts (resource_id, lower(username));
CREATE INDEX accounts_org_owner ON accounts (org_id, owner_id);

CREATE TABLE resource_groups (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id     uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, id)
);
CREATE UNIQUE INDEX resource_groups_org_name ON resource_groups (org_id, lower(name));

CREATE TABLE resource_group_members (
    org_id            uuid NOT NULL,
    resource_group_id uuid NOT NULL,
    resource_id       uuid NOT NULL,
    PRIMARY KEY (resource_group_id, resource_id),
    FOREIGN KEY (org_id, resource_group_id) REFERENCES resource_groups (org_id, id)
        ON DELETE CASCADE,
    FOREIGN KEY (org_id, resource_id) REFERENCES resources (org_id, id) ON DELETE CASCADE
);
CREATE INDEX resource_group_members_resource ON resource_group_members (resource_id);
-- Row-level security filters every read by org_id; an index that starts with it keeps
-- that filter from turning into a scan of every org's rows.
CREATE INDEX resource_group_members_org ON resource_group_members (org_id, resource_group_id);

-- A share gives one user or one user group a permission on exactly one account,
-- resource or resource group of the org. The user may be an MSPOrg user acting in a
-- client org; groups are the org's own.
CREATE TABLE shares (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    account_id        uuid REFERENCES accounts (id) ON DELETE CASCADE,
    resource_id       uuid REFERENCES resources (id) ON DELETE CASCADE,
    resource_group_id uuid REFERENCES resource_groups (id) ON DELETE CASCADE,
    user_id           uuid REFERENCES users (id) ON DELETE CASCADE,
    group_id          uuid REFERENCES user_groups (id) ON DELETE CASCADE,
    permission        text NOT NULL CHECK (permission IN ('view', 'modify', 'full')),
    created_by        uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(account_id, resource_id, resource_group_id) = 1),
    CHECK (num_nonnulls(user_id, group_id) = 1)
);
CREATE UNIQUE INDEX shares_unique ON shares (
    coalesce(account_id, resource_id, resource_group_id), coalesce(user_id, group_id));
-- The entitlement rule reads "this org's shares for this user or its groups": an org's
-- shares are few, so scanning them by org beats OR-ing partial indexes.
CREATE INDEX shares_org ON shares (org_id);
CREATE INDEX shares_user ON shares (org_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX shares_group ON shares (org_id, group_id) WHERE group_id IS NOT NULL;
CREATE INDEX shares_account ON shares (account_id) WHERE account_id IS NOT NULL;
CREATE INDEX shares_resource ON shares (resource_id) WHERE resource_id IS NOT NULL;
CREATE INDEX shares_resource_group ON shares (resource_group_id)
    WHERE resource_group_id IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['resources', 'accounts', 'resource_groups',
                             'resource_group_members', 'shares', 'password_policies'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I USING (org_id = app_org_id()) '
                       'WITH CHECK (org_id = app_org_id())', t || '_org', t);
    END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON resources, resource_groups, resource_group_members,
    shares, password_policies TO :"app_role";
-- Accounts: every column but the two secrets is readable; secrets are written, never
-- selected, by the app role.
GRANT SELECT (id, org_id, resource_id, username, policy, owner_id, password_changed_at,
              created_at, updated_at) ON accounts TO :"app_role";
GRANT INSERT, UPDATE, DELETE ON accounts TO :"app_role";

CREATE FUNCTION perm_rank(p text) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p WHEN 'owner' THEN 4 WHEN 'full' THEN 3 WHEN 'modify' THEN 2
                  WHEN 'view' THEN 1 ELSE 0 END
$$;

-- THE entitlement rule. For user p_user acting in org p_org (p_all: a super
-- administrator in its home org), every account it may use and its permission:
--   owner  - it owns the account or the account's resource;
--   all    - scope all in the home org gives 'full' on every account;
--   shares - the most specific share wins: account over resource over resource group,
--            and at the same level a share to the user over one to its groups; among
--            equals the highest permission.
-- Written without CTEs so that a caller's "WHERE account_id = …" is pushed into every
-- branch (one account is then a handful of index lookups, not the whole org).
CREATE FUNCTION account_permissions(p_user uuid, p_org uuid, p_all boolean)
RETURNS TABLE (account_id uuid, resource_id uuid, permission text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (x.account_id) x.account_id, x.resource_id, x.permission
    FROM (
        SELECT a.id AS account_id, a.resource_id, 0 AS lvl, 0 AS grantee_rank,
               'owner'::text AS permission
          FROM accounts a JOIN resources r ON r.id = a.resource_id
         WHERE a.org_id = p_org AND (a.owner_id = p_user OR r.owner_id = p_user)
        UNION ALL
        SELECT a.id, a.resource_id, 0, 0, 'full'::text
          FROM accounts a WHERE p_all AND a.org_id = p_org
        UNION ALL
        SELECT a.id, a.resource_id, 1, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh JOIN accounts a ON a.id = sh.account_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
        UNION ALL
        SELECT a.id, a.resource_id, 2, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh JOIN accounts a ON a.resource_id = sh.resource_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
        UNION ALL
        SELECT a.id, a.resource_id, 3, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh
          JOIN resource_group_members m ON m.resource_group_id = sh.resource_group_id
          JOIN accounts a ON a.resource_id = m.resource_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
    ) x
    -- Ownership and scope all (level 0) beat any share; among shares the most specific
    -- level, then a user share over a group share, then the highest permission.
    ORDER BY x.account_id, x.lvl, x.grantee_rank, perm_rank(x.permission) DESC
$$;

-- The same rule at resource level: which resources the user sees and with what
-- permission. A resource is visible when owned, shared (directly or through a resource
-- group), or when one of its accounts is shared (then at least 'view').
CREATE FUNCTION resource_permissions(p_user uuid, p_org uuid, p_all boolean)
RETURNS TABLE (resource_id uuid, permission text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (x.resource_id) x.resource_id, x.permission
    FROM (
        SELECT r.id AS resource_id, 0 AS lvl, 0 AS grantee_rank, 'owner'::text AS permission
          FROM resources r WHERE r.org_id = p_org AND r.owner_id = p_user
        UNION ALL
        SELECT r.id, 0, 0, 'full'::text FROM resources r WHERE p_all AND r.org_id = p_org
        UNION ALL
        SELECT sh.resource_id, 2, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh
         WHERE sh.org_id = p_org AND sh.resource_id IS NOT NULL AND (sh.user_id = p_user
               OR sh.group_id IN (SELECT group_id FROM group_members
                                  WHERE user_id = p_user AND org_id = p_org))
        UNION ALL
        SELECT m.resource_id, 3, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh
          JOIN resource_group_members m ON m.resource_group_id = sh.resource_group_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
        UNION ALL
        SELECT a.resource_id, 4, 0, 'view'::text
          FROM shares sh JOIN accounts a ON a.id = sh.account_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
    ) x
    ORDER BY x.resource_id, x.lvl, x.grantee_rank, perm_rank(x.permission) DESC
$$;

GRANT EXECUTE ON FUNCTION perm_rank(text), account_permissions(uuid, uuid, boolean),
    resource_permissions(uuid, uuid, boolean) TO :"app_role";

-- The only way to read a secret, and it is audited: in one statement (its own
-- transaction when called alone) it applies the entitlement rule, records a
-- password_revealed event for the chainer, and returns the account's ciphertexts; no
-- entitlement, no row and no event. Runs as the owner (who may read the secret columns)
-- inside p_org's RLS context. The server decrypts afterwards and records a failure event
-- if the ciphertext does not authenticate.
CREATE FUNCTION reveal_account(p_account uuid, p_user uuid, p_org uuid, p_all boolean,
                               p_actor text, p_actor_org text, p_ip text, p_reason text,
                               p_node text)
RETURNS TABLE (password bytea, notes bytea, permission text, resource_id uuid,
               username text, policy text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    r record;
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
    INSERT INTO audit_events (org_id, at, actor, actor_org, ip, operation, target_type,
                              target, outcome, reason, details, node)
    VALUES (p_org, clock_timestamp(), p_actor, p_actor_org, p_ip, 'password_revealed',
            'account', r.username || '@' || r.resource_id, 'success', p_reason,
            jsonb_build_object('account_id', p_account, 'permission', r.permission), p_node)
    RETURNING id INTO v_event;
    INSERT INTO audit_pending (event_id, org_id) VALUES (v_event, p_org);
    RETURN QUERY SELECT r.password, r.notes, r.permission, r.resource_id, r.username, r.policy;
END $$;
REVOKE ALL ON FUNCTION reveal_account(uuid, uuid, uuid, boolean, text, text, text, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reveal_account(uuid, uuid, uuid, boolean, text, text, text, text,
                                         text) TO :"app_role";
