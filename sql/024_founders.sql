-- The founding phase is decided by what was created, not by what is active (issue 26,
-- item 1; server/services/dual_control.py).
--
-- founder: the account was created as one of MSPOrg's founding administrators (init's
--   first administrator, and each administrator created as independent during the
--   founding phase). It never changes: the phase closes for good once three founders
--   have been created, whatever their status or role is now, so demoting or disabling a
--   founder cannot hold the phase open.
ALTER TABLE users ADD COLUMN founder boolean NOT NULL DEFAULT false;
-- founders_created: how many founders MSPOrg has ever had (a counter, so deleting a founder
--   does not free its seat; the attack pass on issue 26).
ALTER TABLE orgs ADD COLUMN founders_created integer NOT NULL DEFAULT 0;

-- Existing installs (rows are read and written in MSPOrg's RLS context, which the owner is
-- subject to as well): MSPOrg's independent administrators are its founders; three of them,
-- of any status, end the phase.
DO $$
DECLARE v_msp uuid;
BEGIN
    SELECT id INTO v_msp FROM orgs WHERE is_msp;
    IF v_msp IS NULL THEN
        RETURN;
    END IF;
    PERFORM set_config('app.org_id', v_msp::text, true);
    UPDATE users SET founder = true
     WHERE org_id = v_msp AND principal_id IS NULL
       AND role IN ('privileged_administrator', 'administrator');
    UPDATE orgs SET founders_created =
           (SELECT count(*) FROM users u WHERE u.org_id = v_msp AND u.founder)
     WHERE id = v_msp;
    UPDATE orgs SET founding_closed_at = now()
     WHERE id = v_msp AND founding_closed_at IS NULL AND founders_created >= 3;
    PERFORM set_config('app.org_id', '', true);
END $$;
