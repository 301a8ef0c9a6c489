-- Issue 26, items 4 and 5: a grant records what was approved; a client org's display name
-- changes only by request, and a freed display name is held back for 30 days; a group
-- grant request keeps the members it was filed for.

-- What the approver approved (server/services/org_access.py): the designee's role at
-- approval for a user grant, the group's members with their roles for a group grant
-- ([{"username", "role"}]). NULL for grants approved before this record was kept.
ALTER TABLE org_access_grants
    ADD COLUMN approved_role text CHECK (length(approved_role) <= 64),
    ADD COLUMN approved_members jsonb;

-- The group's members when a group grant was requested: the decision is refused if they
-- changed meanwhile (the approver saw these members). NULL for other requests, and for
-- group requests filed before this was kept (their decision is refused too).
-- org_rename: a client org's new display name (kept in subject), proposed and approved
-- as any other request.
ALTER TABLE org_access_requests
    ADD COLUMN designee_members uuid[],
    DROP CONSTRAINT org_access_requests_kind_check,
    ADD CONSTRAINT org_access_requests_kind_check CHECK (
        kind IN ('grant', 'account_manager', 'group_member', 'user_confirmation',
                 'org_rename')),
    DROP CONSTRAINT org_access_requests_designee,
    ADD CONSTRAINT org_access_requests_designee CHECK (
        (kind = 'grant' AND client_org_id IS NOT NULL
            AND num_nonnulls(designee_user_id, designee_group_id) = 1)
        OR (kind = 'account_manager' AND client_org_id IS NOT NULL
            AND designee_user_id IS NOT NULL AND designee_group_id IS NULL)
        OR (kind = 'group_member' AND target_group_id IS NOT NULL
            AND designee_user_id IS NOT NULL AND designee_group_id IS NULL)
        OR (kind IN ('user_confirmation', 'org_rename') AND client_org_id IS NOT NULL
            AND designee_user_id IS NULL AND designee_group_id IS NULL AND subject <> ''));

-- Display names an org gave up (renamed away from, or deleted with the org): another org
-- may not take one for 30 days (the org that freed it may take it back). name is the
-- folded display name (lower(): display names are ASCII, sql/001). No foreign key: the
-- row outlives a deleted org. Readable in any RLS context (the check is about other
-- orgs' names, as the registry itself is readable); written only in the freeing org's.
CREATE TABLE retired_display_names (
    name     text NOT NULL,
    org_id   uuid NOT NULL,
    freed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, org_id)
);
ALTER TABLE retired_display_names ENABLE ROW LEVEL SECURITY;
ALTER TABLE retired_display_names FORCE ROW LEVEL SECURITY;
CREATE POLICY retired_display_names_read ON retired_display_names FOR SELECT USING (true);
CREATE POLICY retired_display_names_insert ON retired_display_names FOR INSERT
    WITH CHECK (org_id = app_org_id());
CREATE POLICY retired_display_names_update ON retired_display_names FOR UPDATE
    USING (org_id = app_org_id()) WITH CHECK (org_id = app_org_id());
GRANT SELECT, INSERT, UPDATE ON retired_display_names TO :"app_role";

-- The rule (sql/functions/display_name_reserved.sql, the same text).
CREATE FUNCTION display_name_reserved(p_name text, p_org uuid DEFAULT NULL)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM retired_display_names r
                    WHERE r.name = lower(p_name)
                      AND r.org_id IS DISTINCT FROM p_org
                      AND r.freed_at > now() - interval '30 days')
$$;
GRANT EXECUTE ON FUNCTION display_name_reserved(text, uuid) TO :"app_role";

-- The trigger function's current definition is sql/functions/org_display_names.sql (the
-- same text; it is needed here to create the trigger).
CREATE FUNCTION org_display_names() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_old text := CASE WHEN TG_OP <> 'INSERT' THEN lower(OLD.display_name) END;
    v_new text := CASE WHEN TG_OP <> 'DELETE' THEN lower(NEW.display_name) END;
    v_name text;
BEGIN
    IF v_old IS NOT DISTINCT FROM v_new THEN
        RETURN NEW;
    END IF;
    -- One name at a time (in name order, so two renames cannot deadlock): a create that
    -- waits here sees the rename or delete that freed its name once that commits.
    FOR v_name IN SELECT n FROM unnest(ARRAY[v_old, v_new]) n WHERE n IS NOT NULL ORDER BY n
    LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended('org_display_name:' || v_name, 0));
    END LOOP;
    IF v_old IS NOT NULL THEN
        INSERT INTO retired_display_names (name, org_id, freed_at)
            VALUES (v_old, OLD.id, now())
            ON CONFLICT (name, org_id) DO UPDATE SET freed_at = EXCLUDED.freed_at;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    IF display_name_reserved(v_new, NEW.id) THEN
        RAISE EXCEPTION 'the display name % was given up by another org within 30 days',
            NEW.display_name
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'org_display_name_reserved';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER orgs_display_names BEFORE INSERT OR UPDATE OF display_name OR DELETE ON orgs
    FOR EACH ROW EXECUTE FUNCTION org_display_names();
