-- requires: perm_rank, user_trusted
--
-- THE entitlement rule for ONE account (issue 28): the permission user p_user acting in org
-- p_org (p_all: a super administrator in its home org) has on account p_account, or NULL
-- when it has none (or the account is not p_org's). The rule, in the order it decides:
--   owner  - it owns the account or the account's resource: 'owner';
--   all    - scope all in the home org, and trusted: 'full';
--   shares - the most specific share wins: account over resource over resource group,
--            and at the same level a share to the user over one to its groups; among
--            equals the highest permission.
-- Trust (sql/010): an untrusted user (user_trusted) keeps what it owns and direct shares
-- made by MSP staff; the 'all' scope, group shares and shares made by the org's own users
-- need trust.
-- PL/pgSQL that stops at the first level that decides: a reveal by an owner or a super
-- administrator is one index lookup (plus the trust check), a shared account one to three
-- small index scans, where the set form (account_permissions, the same rule for every
-- account of the org, used by the lists) initialised five branches and about thirty plan
-- nodes for one account. tests/server/test_entitlement_equal.py checks, over random
-- shares, groups, trust and resource groups, that both answer alike for every account.
CREATE OR REPLACE FUNCTION account_permission(p_user uuid, p_org uuid, p_all boolean,
                                              p_account uuid)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_resource uuid;
    v_owner boolean;
    v_trusted boolean;
    v_permission text;
    v_groups uuid[];
BEGIN
    SELECT a.resource_id, (a.owner_id = p_user OR r.owner_id = p_user) INTO v_resource, v_owner
      FROM accounts a JOIN resources r ON r.id = a.resource_id
     WHERE a.id = p_account AND a.org_id = p_org;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_owner THEN
        RETURN 'owner';
    END IF;
    v_trusted := user_trusted(p_user, p_org);
    IF p_all AND v_trusted THEN
        RETURN 'full';
    END IF;
    -- The user's groups in the org, read once for the three levels below.
    v_groups := ARRAY(SELECT group_id FROM group_members
                       WHERE user_id = p_user AND org_id = p_org);
    -- Level 1: shares of the account itself.
    SELECT sh.permission INTO v_permission
      FROM shares sh
     WHERE sh.account_id = p_account AND sh.org_id = p_org
       AND (sh.user_id = p_user OR sh.group_id = ANY (v_groups))
       AND ((sh.user_id = p_user AND sh.by_msp) OR v_trusted)
     ORDER BY (sh.user_id IS NULL), perm_rank(sh.permission) DESC
     LIMIT 1;
    IF FOUND THEN
        RETURN v_permission;
    END IF;
    -- Level 2: shares of its resource.
    SELECT sh.permission INTO v_permission
      FROM shares sh
     WHERE sh.resource_id = v_resource AND sh.org_id = p_org
       AND (sh.user_id = p_user OR sh.group_id = ANY (v_groups))
       AND ((sh.user_id = p_user AND sh.by_msp) OR v_trusted)
     ORDER BY (sh.user_id IS NULL), perm_rank(sh.permission) DESC
     LIMIT 1;
    IF FOUND THEN
        RETURN v_permission;
    END IF;
    -- Level 3: shares of a resource group its resource belongs to.
    SELECT sh.permission INTO v_permission
      FROM resource_group_members m
      JOIN shares sh ON sh.resource_group_id = m.resource_group_id
     WHERE m.resource_id = v_resource AND sh.org_id = p_org
       AND (sh.user_id = p_user OR sh.group_id = ANY (v_groups))
       AND ((sh.user_id = p_user AND sh.by_msp) OR v_trusted)
     ORDER BY (sh.user_id IS NULL), perm_rank(sh.permission) DESC
     LIMIT 1;
    RETURN v_permission;
END $$;
GRANT EXECUTE ON FUNCTION account_permission(uuid, uuid, boolean, uuid) TO :"app_role";
