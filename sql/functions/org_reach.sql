-- "May this user act in org X": THE reach rule, decided here and nowhere else
-- (server/services/access.py, server/services/dual_control.py and the batched org lookup
-- of the hot path all call it).
--
-- A user acts in its home org. A user of MSPOrg also acts in a client org when it is the
-- org's account manager (orgs.account_manager_id) or holds an approved org access grant
-- (org_access_grants), directly or through an MSPOrg user group it is a member of.
-- One row per org reached, via = 'home' | 'account_manager' | 'grant' (in that order of
-- precedence). p_org limits the answer to that org (no row: not reached). A deleted client
-- org (orgs.deleted_at, issue 27: kept for its recovery window) is reached by nobody.
--
-- Visibility is the same as the server's reads before this function: the registry (orgs)
-- is readable in any RLS context; grants and group members are MSPOrg's data and are read
-- in the home org's RLS context (app.org_id = p_home), which is restored afterwards. A
-- client user's home is no MSP, so no grant is ever read for it. No SECURITY DEFINER:
-- it runs with the caller's rights and row-level security.
CREATE OR REPLACE FUNCTION org_reach(p_user uuid, p_home uuid, p_org uuid DEFAULT NULL)
RETURNS TABLE (org_id uuid, via text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_context text := current_setting('app.org_id', true);
BEGIN
    IF p_org IS NULL OR p_org = p_home THEN
        org_id := p_home;
        via := 'home';
        RETURN NEXT;
        IF p_org IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM orgs h WHERE h.id = p_home AND h.is_msp) THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT o.id, 'account_manager'::text FROM orgs o
         WHERE o.account_manager_id = p_user AND o.id <> p_home AND o.deleted_at IS NULL
           AND (p_org IS NULL OR o.id = p_org);
    IF p_org IS NOT NULL AND FOUND THEN
        RETURN;
    END IF;
    PERFORM set_config('app.org_id', p_home::text, true);
    RETURN QUERY
        SELECT DISTINCT g.client_org_id, 'grant'::text FROM org_access_grants g
         WHERE g.org_id = p_home
           AND (p_org IS NULL OR g.client_org_id = p_org)
           AND g.client_org_id <> p_home
           AND (g.user_id = p_user
                OR g.group_id IN (SELECT m.group_id FROM group_members m
                                   WHERE m.user_id = p_user))
           AND NOT EXISTS (SELECT 1 FROM orgs o
                            WHERE o.id = g.client_org_id
                              AND (o.account_manager_id = p_user OR o.deleted_at IS NOT NULL));
    PERFORM set_config('app.org_id', coalesce(v_context, ''), true);
END $$;
