-- Orgs the notifier has work in (server/services/notifications.py): an audit chain past
-- its cursor (or without one yet), outbox messages due, or a check-out ending within 10
-- minutes. Runs as the owner, whose
-- policies (sql/038) let it read heads, cursors and the outbox across orgs; answers ids.
CREATE OR REPLACE FUNCTION notify_orgs_due() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT h.org_id FROM audit_heads h LEFT JOIN notify_cursors c ON c.org_id = h.org_id
     WHERE c.seq IS NULL OR h.seq > c.seq
    UNION
    SELECT org_id FROM notify_outbox WHERE status = 'pending' AND next_at <= now()
    UNION
    SELECT org_id FROM password_requests
     WHERE status = 'approved' AND ends_at > now() AND ends_at <= now() + interval '10 minutes'
$$;
REVOKE ALL ON FUNCTION notify_orgs_due() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION notify_orgs_due() TO :"app_role";
