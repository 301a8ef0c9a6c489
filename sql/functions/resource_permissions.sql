-- requires: perm_rank, user_trusted
--
-- The entitlement rule (account_permissions) at resource level: which resources the user
-- sees and with what permission. A resource is visible when owned, shared (directly or
-- through a resource group), or when one of its accounts is shared (then at least
-- 'view'). Trust as in account_permissions (sql/010).
CREATE OR REPLACE FUNCTION resource_permissions(p_user uuid, p_org uuid, p_all boolean)
RETURNS TABLE (resource_id uuid, permission text)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (x.resource_id) x.resource_id, x.permission
    FROM (
        SELECT r.id AS resource_id, 0 AS lvl, 0 AS grantee_rank, 'owner'::text AS permission
          FROM resources r WHERE r.org_id = p_org AND r.owner_id = p_user
        UNION ALL
        SELECT r.id, 0, 0, 'full'::text FROM resources r
         WHERE p_all AND r.org_id = p_org AND user_trusted(p_user, p_org)
        UNION ALL
        SELECT sh.resource_id, 2, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh
         WHERE sh.org_id = p_org AND sh.resource_id IS NOT NULL AND (sh.user_id = p_user
               OR sh.group_id IN (SELECT group_id FROM group_members
                                  WHERE user_id = p_user AND org_id = p_org))
           AND ((sh.user_id = p_user AND sh.by_msp) OR user_trusted(p_user, p_org))
        UNION ALL
        SELECT m.resource_id, 3, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh
          JOIN resource_group_members m ON m.resource_group_id = sh.resource_group_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
           AND ((sh.user_id = p_user AND sh.by_msp) OR user_trusted(p_user, p_org))
        UNION ALL
        SELECT a.resource_id, 4, 0, 'view'::text
          FROM shares sh JOIN accounts a ON a.id = sh.account_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
           AND ((sh.user_id = p_user AND sh.by_msp) OR user_trusted(p_user, p_org))
    ) x
    ORDER BY x.resource_id, x.lvl, x.grantee_rank, perm_rank(x.permission) DESC
$$;
GRANT EXECUTE ON FUNCTION resource_permissions(uuid, uuid, boolean) TO :"app_role";
