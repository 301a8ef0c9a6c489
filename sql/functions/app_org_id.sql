-- The org whose rows a transaction sees: every tenant table's row-level-security policy is
-- keyed on it. The server sets app.org_id per transaction
-- (set_config('app.org_id', id, true)); with no setting, app_org_id() is NULL and tenant
-- policies match no row. (First made in sql/001.)
CREATE OR REPLACE FUNCTION app_org_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;
GRANT EXECUTE ON FUNCTION app_org_id() TO :"app_role";
