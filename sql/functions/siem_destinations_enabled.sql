-- Every enabled SIEM destination as (id, org_id), read across orgs by the forwarder only
-- (server/services/siem.py). Runs as the owner, whose policy siem_destinations_owner
-- (sql/037) lets it see every org's rows; it answers ids only.
CREATE OR REPLACE FUNCTION siem_destinations_enabled()
RETURNS TABLE (id uuid, org_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT id, org_id FROM siem_destinations WHERE enabled ORDER BY created_at
$$;
REVOKE ALL ON FUNCTION siem_destinations_enabled() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION siem_destinations_enabled() TO :"app_role";
