-- The reveal statement checks the org reach itself (issue 25): reveal_account and
-- reveal_accounts take the actor's home org, so org_reach is asked inside the very
-- statement that reads the secret, and a grant revoked a moment before cannot let a
-- reveal that was already on its way through. Their argument lists change, which
-- CREATE OR REPLACE cannot do: the old ones are dropped here, and the new definitions
-- are sql/functions/reveal_account.sql (applied after the numbered migrations).
DROP FUNCTION IF EXISTS reveal_accounts(uuid[], uuid[], uuid[], boolean[], text[], text[],
                                        text[], text[], text[]);
DROP FUNCTION IF EXISTS reveal_account(uuid, uuid, uuid, boolean, text, text, text, text,
                                       text);
