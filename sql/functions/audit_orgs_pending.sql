-- Orgs whose audit chain has events waiting (read across orgs by the chainer only). Runs
-- as the owner, whose policy audit_pending_owner (sql/003) lets it see the whole queue: it
-- holds only event ids.
CREATE OR REPLACE FUNCTION audit_orgs_pending() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT DISTINCT org_id FROM audit_pending
$$;
REVOKE ALL ON FUNCTION audit_orgs_pending() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_orgs_pending() TO :"app_role";
