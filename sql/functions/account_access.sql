-- The access state of one account for one user (in the org's RLS context): whether it is
-- under access control, and who holds it until when. THE check-out rule: under control,
-- a user may use the password only inside its own approved, open window; with exclusive
-- check-out only one window is open at a time. (sql/013; applied in reveal_account.)
-- The clock is the statement's, not the transaction's: a decision that waited for another
-- (password_requests.decide locks the account) must see the window that one opened, even
-- though its own transaction began a moment before that window's start.
CREATE OR REPLACE FUNCTION account_access(p_account uuid, p_resource uuid, p_user uuid)
RETURNS TABLE (controlled boolean, exclusive boolean, rotate boolean, mine boolean,
               holder text, holder_org text, held_until timestamptz, request_id uuid)
LANGUAGE sql STABLE AS $$
    WITH ctl AS (
        SELECT c.enabled, c.exclusive, c.rotate_on_checkin FROM access_controls c
         WHERE c.account_id = p_account OR (c.resource_id = p_resource)
         ORDER BY (c.account_id IS NOT NULL) DESC LIMIT 1
    ), holds AS (
        SELECT q.id, q.requester_id, q.requester_name, q.requester_org, q.ends_at
          FROM password_requests q
         WHERE q.account_id = p_account AND q.status = 'approved'
           AND q.starts_at <= statement_timestamp() AND statement_timestamp() < q.ends_at
    )
    SELECT coalesce((SELECT enabled FROM ctl), false),
           coalesce((SELECT exclusive FROM ctl), false),
           coalesce((SELECT rotate_on_checkin FROM ctl), false),
           EXISTS (SELECT 1 FROM holds WHERE requester_id = p_user),
           (SELECT requester_name FROM holds ORDER BY ends_at DESC LIMIT 1),
           (SELECT requester_org FROM holds ORDER BY ends_at DESC LIMIT 1),
           (SELECT ends_at FROM holds ORDER BY ends_at DESC LIMIT 1),
           (SELECT id FROM holds WHERE requester_id = p_user LIMIT 1)
$$;
GRANT EXECUTE ON FUNCTION account_access(uuid, uuid, uuid) TO :"app_role";
