-- requires: perm_rank, user_trusted
--
-- THE entitlement rule. For user p_user acting in org p_org (p_all: a super
-- administrator in its home org), every account it may use and its permission:
--   owner  - it owns the account or the account's resource;
--   all    - scope all in the home org gives 'full' on every account;
--   shares - the most specific share wins: account over resource over resource group,
--            and at the same level a share to the user over one to its groups; among
--            equals the highest permission.
-- Trust (sql/010): an untrusted user (user_trusted) keeps what it owns and direct shares
-- made by MSP staff; the 'all' scope, group shares and shares made by the org's own users
-- need trust.
-- Written without CTEs so that a caller's "WHERE account_id = …" is pushed into every
-- branch (one account is then a handful of index lookups, not the whole org).
-- resource_permissions (its own file) is the same rule at resource level, and
-- account_permission (its own file) the same rule for one account, which the reveal uses
-- (issue 28): tests/server/test_entitlement_equal.py checks that both forms answer alike
-- over random shares, groups, trust, owners and resource groups, so a change here is made
-- there too.
CREATE OR REPLACE FUNCTION account_permissions(p_user uuid, p_org uuid, p_all boolean)
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
          FROM accounts a WHERE p_all AND a.org_id = p_org AND user_trusted(p_user, p_org)
        UNION ALL
        SELECT a.id, a.resource_id, 1, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh JOIN accounts a ON a.id = sh.account_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
           AND ((sh.user_id = p_user AND sh.by_msp) OR user_trusted(p_user, p_org))
        UNION ALL
        SELECT a.id, a.resource_id, 2, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh JOIN accounts a ON a.resource_id = sh.resource_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
           AND ((sh.user_id = p_user AND sh.by_msp) OR user_trusted(p_user, p_org))
        UNION ALL
        SELECT a.id, a.resource_id, 3, (sh.user_id IS NULL)::int, sh.permission
          FROM shares sh
          JOIN resource_group_members m ON m.resource_group_id = sh.resource_group_id
          JOIN accounts a ON a.resource_id = m.resource_id
         WHERE sh.org_id = p_org AND (sh.user_id = p_user OR sh.group_id IN (
               SELECT group_id FROM group_members WHERE user_id = p_user AND org_id = p_org))
           AND ((sh.user_id = p_user AND sh.by_msp) OR user_trusted(p_user, p_org))
    ) x
    ORDER BY x.account_id, x.lvl, x.grantee_rank, perm_rank(x.permission) DESC
$$;
GRANT EXECUTE ON FUNCTION account_permissions(uuid, uuid, boolean) TO :"app_role";
