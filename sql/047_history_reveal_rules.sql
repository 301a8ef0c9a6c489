-- An earlier password's reveal follows the reveal's rules of the org's reason and of
-- "connect only" too (attacker pass, session 9: reveal_password_history checked the
-- entitlement and the check-out but neither of those). It takes the reason, so its
-- argument list changes, which CREATE OR REPLACE cannot do: the old one is dropped here
-- and the new definition is sql/functions/rotation_secrets.sql (applied after the
-- numbered migrations).
DROP FUNCTION IF EXISTS reveal_password_history(uuid, uuid, uuid, boolean, text, text, text,
                                                text);
