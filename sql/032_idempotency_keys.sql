-- Issue 33, item 4: a POST sent with an Idempotency-Key header is carried out once; a
-- retry with the same key (the same user, within 24 hours) gets the first answer back.
-- A row is written in the same transaction as the work it stands for (so "the work was
-- done" and "the key is known" commit together), then completed with the answer. Kept in
-- the caller's own org (row-level security), per user. An answer that holds a secret (a
-- new API key, a TOTP seed) is never kept: only its status, with answer_kept = false.
CREATE TABLE idempotency_keys (
    org_id       uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash bytea NOT NULL,
    status       integer,            -- NULL: the work committed, the answer not yet stored
    answer       jsonb,              -- NULL when not kept (it held a secret) or not stored
    answer_kept  boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_org ON idempotency_keys USING (org_id = app_org_id())
    WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO :"app_role";
