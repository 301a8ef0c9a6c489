-- The chainer's queue costs a reveal less (issue 28). audit_pending held a foreign key to
-- audit_events and two indexes (its primary key on event_id and (org_id, event_id)): each
-- queued event paid a key check that locked the event row it had just inserted, and two
-- index entries. Its one key is now (org_id, event_id), which serves the chainer's read
-- (an org's queue in order) and its delete, and there is no foreign key:
-- - every writer inserts the event and its queue row in the same transaction, from the
--   event's own RETURNING id (sql/functions/reveal_account.sql, server/store/audit.py,
--   server/node/spool.py), so a queue row names an event that exists;
-- - the app role may not delete events, and purge_audit deletes only linked ones, which
--   have left the queue;
-- - the chain stays checked end to end by audit.verify, which reports any event in no
--   chain and not queued.
ALTER TABLE audit_pending DROP CONSTRAINT audit_pending_event_id_fkey;
ALTER TABLE audit_pending DROP CONSTRAINT audit_pending_pkey;
DROP INDEX audit_pending_org;
ALTER TABLE audit_pending ADD PRIMARY KEY (org_id, event_id);
