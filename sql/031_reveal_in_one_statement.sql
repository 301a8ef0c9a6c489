-- A reveal in one statement (issue 28): reveal_account and reveal_accounts take the org
-- by its name as the URL gives it, and the credential the request was authenticated with,
-- so that one statement resolves the org, decides the reach (org_reach), checks that the
-- session or API key and its user still stand (credential_stands), the reason the org may
-- require, the entitlement, the check-out and records the event: one round trip less per
-- reveal, and no disable or logout committed before it began lets it through. Their
-- argument lists and answers change, which CREATE OR REPLACE cannot do: the old ones are
-- dropped here, and the new definitions are sql/functions/reveal_account.sql (applied
-- after the numbered migrations).
DROP FUNCTION IF EXISTS reveal_accounts(uuid[], uuid[], uuid[], uuid[], boolean[], text[],
                                        text[], text[], text[], text[]);
DROP FUNCTION IF EXISTS reveal_account(uuid, uuid, uuid, uuid, boolean, text, text, text,
                                       text, text);
