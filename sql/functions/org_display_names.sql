-- requires: display_name_reserved
-- Trigger orgs_display_names (sql/026): a display name an org gives up (by a rename or
-- with the org's deletion) is recorded in retired_display_names, and another org may not
-- take one given up less than 30 days ago (issue 26: a renamed client's old name taken
-- by a look-alike org). The org that gave it up may take it back. Refused with
-- unique_violation on constraint org_display_name_reserved, which the server answers as
-- 409 display_name_reserved (server/services/orgs.py). Creates, imports and renames all
-- pass here; names are locked one at a time, in order, so a create waiting on a rename of
-- its name sees the rename's record once it commits.
CREATE OR REPLACE FUNCTION org_display_names() RETURNS trigger LANGUAGE plpgsql AS $$
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
