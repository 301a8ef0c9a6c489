-- Issue 27: a notice of GET /me (a person recovered on the server's console, ...) stops
-- showing to a user once that user has acknowledged it (POST /me/notices/acknowledge).
-- notice_id: the notice's stable id, "<kind>:<id of what it tells>" (e.g.
--   "person_recovered:<person_recoveries.id>").
CREATE TABLE notice_acknowledgements (
    org_id          uuid NOT NULL,
    user_id         uuid NOT NULL,
    notice_id       text NOT NULL CHECK (length(notice_id) BETWEEN 1 AND 200),
    acknowledged_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, notice_id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
ALTER TABLE notice_acknowledgements ENABLE ROW LEVEL SECURITY;
ALTER TABLE notice_acknowledgements FORCE ROW LEVEL SECURITY;
CREATE POLICY notice_acknowledgements_org ON notice_acknowledgements
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT ON notice_acknowledgements TO :"app_role";
