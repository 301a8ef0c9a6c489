-- Organizations: the tenant registry, and the row-level-security convention every
-- tenant table follows. The server sets app.org_id per transaction
-- (set_config('app.org_id', id, true)); with no setting, app_org_id() is NULL and
-- tenant policies match no row.

CREATE FUNCTION app_org_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;

CREATE TABLE orgs (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    display_name       text NOT NULL CHECK (display_name ~ '^[A-Za-z0-9]{1,64}$'),
    description        text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    department         text NOT NULL DEFAULT '' CHECK (length(department) <= 200),
    location           text NOT NULL DEFAULT '' CHECK (length(location) <= 200),
    vault_control      text NOT NULL DEFAULT 'both' CHECK (vault_control IN ('msp', 'client', 'both')),
    is_msp             boolean NOT NULL DEFAULT false,
    account_manager_id uuid,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX orgs_display_name_key ON orgs (lower(display_name));
CREATE UNIQUE INDEX orgs_single_msp ON orgs (is_msp) WHERE is_msp;

-- The registry is readable (routing /<display_name>, login, MSP listings filter by
-- visibility in the server); it can only be changed inside that org's own context.
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY orgs_read ON orgs FOR SELECT USING (true);
CREATE POLICY orgs_insert ON orgs FOR INSERT WITH CHECK (id = app_org_id());
CREATE POLICY orgs_update ON orgs FOR UPDATE USING (id = app_org_id()) WITH CHECK (id = app_org_id());
CREATE POLICY orgs_delete ON orgs FOR DELETE USING (id = app_org_id());

GRANT SELECT, INSERT, UPDATE, DELETE ON orgs TO :"app_role";
GRANT EXECUTE ON FUNCTION app_org_id() TO :"app_role";
