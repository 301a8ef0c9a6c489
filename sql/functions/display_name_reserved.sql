-- Whether display name p_name was given up (renamed away from, or deleted with its org)
-- by an org other than p_org less than 30 days ago: then no other org may take it yet
-- (issue 26). p_org NULL: a new org. The one rule for it: the trigger orgs_display_names
-- (sql/functions/org_display_names.sql) refuses such a name on every insert and rename,
-- and the server asks it to refuse early with a clear answer (server/services/orgs.py).
CREATE OR REPLACE FUNCTION display_name_reserved(p_name text, p_org uuid DEFAULT NULL)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM retired_display_names r
                    WHERE r.name = lower(p_name)
                      AND r.org_id IS DISTINCT FROM p_org
                      AND r.freed_at > now() - interval '30 days')
$$;
GRANT EXECUTE ON FUNCTION display_name_reserved(text, uuid) TO :"app_role";
