-- Issue 32: directory login. An org's users may authenticate against the org's own LDAP
-- directory or Active Directory (server/services/directory.py).

-- An org's directory configuration. state 'active' is the one logins and syncs use;
-- MSPOrg's changes wait as state 'pending' until a second MSPOrg administrator approves a
-- directory_config org access request naming the pending row's revision (dual control:
-- whoever controls these settings could point them at a directory it owns). The bind
-- password is sealed with the org's data key (bind_password, bound to this table, the
-- row's id and the column) and is never answered.
CREATE TABLE org_directories (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id            uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    state             text NOT NULL CHECK (state IN ('active', 'pending')),
    revision          uuid NOT NULL DEFAULT gen_random_uuid(),
    url               text NOT NULL CHECK (url ~ '^ldaps?://' AND length(url) <= 500),
    start_tls         boolean NOT NULL,
    ca_pem            text NOT NULL CHECK (length(ca_pem) <= 65536),
    bind_dn           text NOT NULL CHECK (length(bind_dn) <= 1000),
    bind_password     bytea NOT NULL,
    search_base       text NOT NULL CHECK (length(search_base) <= 1000),
    user_filter       text NOT NULL CHECK (length(user_filter) <= 1000),
    username_attribute text NOT NULL CHECK (username_attribute ~ '^[A-Za-z][A-Za-z0-9-]{0,63}$'),
    group_roles       jsonb NOT NULL DEFAULT '[]',
    default_role      text,
    sync_minutes      integer NOT NULL DEFAULT 60 CHECK (sync_minutes BETWEEN 0 AND 10080),
    configured_by     text NOT NULL,
    configured_by_id  uuid,
    configured_by_confirmed boolean NOT NULL DEFAULT false,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    last_sync_at      timestamptz,
    UNIQUE (org_id, state)
    -- (state 'pending' rows exist only for MSPOrg: server/services/directory.py)
);
ALTER TABLE org_directories ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_directories FORCE ROW LEVEL SECURITY;
CREATE POLICY org_directories_org ON org_directories USING (org_id = app_org_id())
    WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON org_directories TO :"app_role";

-- A directory user: its entry's DN (NULL for a local user). It has no password here
-- (password_hash holds a marker no password matches); its name, e-mail and role follow
-- the directory at each login and sync.
ALTER TABLE users ADD COLUMN directory_dn text CHECK (length(directory_dn) <= 1000);
-- directory_disabled: disabled by a sync (not in the directory, disabled there, or in no
-- mapped group); a later sync that finds it entitled again enables it. An administrator's
-- own disabling is never undone by a sync.
ALTER TABLE users ADD COLUMN directory_disabled boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX users_directory_dn ON users (org_id, lower(directory_dn))
    WHERE directory_dn IS NOT NULL;

-- A new kind of org access request: MSPOrg's directory configuration. subject holds the
-- pending configuration's summary (JSON, with its revision; never the bind password).
ALTER TABLE org_access_requests DROP CONSTRAINT org_access_requests_kind_check;
ALTER TABLE org_access_requests ADD CONSTRAINT org_access_requests_kind_check CHECK (
    kind IN ('grant', 'account_manager', 'group_member', 'user_confirmation',
             'org_rename', 'audit_retention', 'org_purge', 'directory_config'));
ALTER TABLE org_access_requests DROP CONSTRAINT org_access_requests_designee;
ALTER TABLE org_access_requests ADD CONSTRAINT org_access_requests_designee CHECK (
    (kind = 'grant' AND client_org_id IS NOT NULL
        AND num_nonnulls(designee_user_id, designee_group_id) = 1)
    OR (kind = 'account_manager' AND client_org_id IS NOT NULL
        AND designee_user_id IS NOT NULL AND designee_group_id IS NULL)
    OR (kind = 'group_member' AND target_group_id IS NOT NULL
        AND designee_user_id IS NOT NULL AND designee_group_id IS NULL)
    OR (kind IN ('user_confirmation', 'org_rename') AND client_org_id IS NOT NULL
        AND designee_user_id IS NULL AND designee_group_id IS NULL AND subject <> '')
    OR (kind = 'audit_retention' AND client_org_id IS NOT NULL
        AND designee_user_id IS NULL AND designee_group_id IS NULL AND subject <> '')
    OR (kind = 'org_purge' AND client_org_id IS NOT NULL
        AND designee_user_id IS NULL AND designee_group_id IS NULL)
    OR (kind = 'directory_config' AND client_org_id IS NOT NULL
        AND designee_user_id IS NULL AND designee_group_id IS NULL AND subject <> ''));
-- A directory_config request's subject says what the approver approves (URL, bind DN,
-- search base, filter: up to about 3,000 characters); other kinds stay short.
ALTER TABLE org_access_requests DROP CONSTRAINT org_access_requests_subject_check;
ALTER TABLE org_access_requests ADD CONSTRAINT org_access_requests_subject_check
    CHECK (length(subject) <= 200 OR (kind = 'directory_config' AND length(subject) <= 4000));
