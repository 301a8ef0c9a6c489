-- Purge the prefix of an org's chain up to link p_seq, whose events are all older than
-- the org's retention (refused otherwise), and record the sealed checkpoint. Runs as the
-- owner: the app role itself can delete no audit row. (sql/015.) Recordings of brokered
-- sessions that ended before the retention go with them (issue 30, sql/044).
CREATE OR REPLACE FUNCTION purge_audit(p_org uuid, p_seq bigint, p_hash bytea, p_at timestamptz,
                            p_mac bytea) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_days integer;
    v_newest timestamptz;
    v_hash bytea;
    v_before bigint;
    v_count bigint;
BEGIN
    PERFORM set_config('app.org_id', p_org::text, true);
    SELECT days INTO v_days FROM audit_retention WHERE org_id = p_org;
    IF v_days IS NULL THEN
        RAISE EXCEPTION 'no retention is set for this org';
    END IF;
    SELECT max(e.at) INTO v_newest FROM audit_links l JOIN audit_events e ON e.id = l.event_id
     WHERE l.org_id = p_org AND l.seq <= p_seq;
    IF v_newest IS NULL OR v_newest >= now() - make_interval(days => v_days) THEN
        RAISE EXCEPTION 'the events up to link % are not all older than the retention', p_seq;
    END IF;
    SELECT hash INTO v_hash FROM audit_links WHERE org_id = p_org AND seq = p_seq;
    IF v_hash IS NULL OR v_hash <> p_hash THEN
        RAISE EXCEPTION 'link % is not the one the checkpoint names', p_seq;
    END IF;
    SELECT coalesce(purged_events, 0) INTO v_before FROM audit_checkpoints WHERE org_id = p_org;
    CREATE TEMP TABLE IF NOT EXISTS purged_ids (id bigint) ON COMMIT DROP;
    DELETE FROM purged_ids;
    WITH gone AS (DELETE FROM audit_links WHERE org_id = p_org AND seq <= p_seq
                  RETURNING event_id)
    INSERT INTO purged_ids SELECT event_id FROM gone;
    DELETE FROM audit_spool_ingested WHERE event_id IN (SELECT id FROM purged_ids);
    DELETE FROM audit_events WHERE id IN (SELECT id FROM purged_ids);
    GET DIAGNOSTICS v_count = ROW_COUNT;
    INSERT INTO audit_checkpoints (org_id, seq, hash, purged_events, at, mac)
    VALUES (p_org, p_seq, p_hash, coalesce(v_before, 0) + v_count, p_at, p_mac)
    ON CONFLICT (org_id) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash,
        purged_events = EXCLUDED.purged_events, at = EXCLUDED.at, mac = EXCLUDED.mac;
    DELETE FROM session_recordings
     WHERE org_id = p_org AND ended_at < now() - make_interval(days => v_days);
    RETURN v_count;
END $$;
REVOKE ALL ON FUNCTION purge_audit(uuid, bigint, bytea, timestamptz, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION purge_audit(uuid, bigint, bytea, timestamptz, bytea)
    TO :"app_role";
