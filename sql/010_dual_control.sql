-- Dual control on every path into a client org (server/services/dual_control.py).
--
-- principal_id: for an MSPOrg user, the person who controls its credentials: itself
--   (NULL) for a founding or legacy administrator, otherwise the principal of whoever
--   created the user or last set its password. Two accounts with one principal count as
--   one person for dual control. No foreign key: deleting the principal's account must
--   not turn the accounts it controls into independent ones.
-- client_confirmed: a client user that an MSP user (or an unconfirmed user) created or
--   whose password it set reaches nothing the client shared until a confirmed client
--   administrator (or an MSP dual-control request) confirms it.
-- founding_closed_at: MSPOrg's founding phase (administrators created by a privileged
--   administrator are independent) ends for good once three independent administrators
--   exist.

ALTER TABLE users
    ADD COLUMN principal_id uuid,
    ADD COLUMN client_confirmed boolean NOT NULL DEFAULT true;

ALTER TABLE orgs ADD COLUMN founding_closed_at timestamptz;


-- Requests now come in kinds; the designee of a group_member request is the user to add
-- and target_group_id the MSPOrg group; a user_confirmation names a client user, whose
-- name is kept in subject (it lives in the client's tenancy).
ALTER TABLE org_access_requests
    ADD COLUMN kind text NOT NULL DEFAULT 'grant'
        CHECK (kind IN ('grant', 'account_manager', 'group_member', 'user_confirmation')),
    ADD COLUMN target_group_id uuid REFERENCES user_groups (id) ON DELETE CASCADE,
    ADD COLUMN subject text NOT NULL DEFAULT '' CHECK (length(subject) <= 200);
ALTER TABLE org_access_requests ALTER COLUMN client_org_id DROP NOT NULL;
ALTER TABLE org_access_requests DROP CONSTRAINT org_access_requests_check;
ALTER TABLE org_access_requests ADD CONSTRAINT org_access_requests_designee CHECK (
    (kind = 'grant' AND client_org_id IS NOT NULL
        AND num_nonnulls(designee_user_id, designee_group_id) = 1)
    OR (kind = 'account_manager' AND client_org_id IS NOT NULL
        AND designee_user_id IS NOT NULL AND designee_group_id IS NULL)
    OR (kind = 'group_member' AND target_group_id IS NOT NULL
        AND designee_user_id IS NOT NULL AND designee_group_id IS NULL)
    OR (kind = 'user_confirmation' AND client_org_id IS NOT NULL
        AND designee_user_id IS NULL AND designee_group_id IS NULL AND subject <> ''));
-- A decided request keeps its history when a person in it is deleted.
ALTER TABLE org_access_requests
    DROP CONSTRAINT org_access_requests_proposer_id_fkey,
    DROP CONSTRAINT org_access_requests_approver_id_fkey,
    ALTER COLUMN proposer_id DROP NOT NULL,
    ALTER COLUMN approver_id DROP NOT NULL,
    ADD COLUMN proposer_name text NOT NULL DEFAULT '',
    ADD COLUMN approver_name text NOT NULL DEFAULT '';
-- Existing installs (rows are read and written in MSPOrg's RLS context, which the owner
-- is subject to as well): their administrators were made under the old rule; each counts
-- as its own principal, and the founding phase is over if three of them are active.
DO $$
DECLARE v_msp uuid;
BEGIN
    SELECT id INTO v_msp FROM orgs WHERE is_msp;
    IF v_msp IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('app.org_id', v_msp::text, true);
    UPDATE org_access_requests r SET proposer_name = u.username FROM users u
     WHERE u.id = r.proposer_id;
    UPDATE org_access_requests r SET approver_name = u.username FROM users u
     WHERE u.id = r.approver_id;
    UPDATE orgs SET founding_closed_at = now()
     WHERE id = v_msp AND (SELECT count(*) FROM users u WHERE u.org_id = v_msp
                           AND u.status = 'active'
                           AND u.role IN ('privileged_administrator', 'administrator')) >= 3;
    PERFORM set_config('app.org_id', '', true);
END $$;
ALTER TABLE org_access_requests
    ADD CONSTRAINT org_access_requests_proposer_fk FOREIGN KEY (proposer_id)
        REFERENCES users (id) ON DELETE SET NULL,
    ADD CONSTRAINT org_access_requests_approver_fk FOREIGN KEY (approver_id)
        REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX org_access_requests_target_group ON org_access_requests (target_group_id)
    WHERE target_group_id IS NOT NULL;

-- Shares record whether an MSP user made them: an unconfirmed client user reaches only
-- what it owns and what MSP staff shared with it by name.
ALTER TABLE shares ADD COLUMN by_msp boolean NOT NULL DEFAULT false;

-- Whether user p_user may use what its org's people shared (in p_org's context): MSP
-- users acting in a client org are not rows of p_org and pass; a client user passes when
-- confirmed or when the org's vault is the MSP's.
CREATE FUNCTION user_trusted(p_user uuid, p_org uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT EXISTS (SELECT 1 FROM users u JOIN orgs o ON o.id = u.org_id
                        WHERE u.id = p_user AND u.org_id = p_org AND NOT u.client_confirmed
                          AND o.vault_control <> 'msp')
$$;
GRANT EXECUTE ON FUNCTION user_trusted(uuid, uuid) TO :"app_role";

-- THE entitlement rule (sql/005), now with trust: an untrusted user keeps what it owns
-- and direct shares made by MSP staff; the 'all' scope, group shares and shares made by
-- the org's own users need trust.
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
