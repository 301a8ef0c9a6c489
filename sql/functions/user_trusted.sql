-- Whether user p_user may use what its org's people shared (in p_org's context): MSP
-- users acting in a client org are not rows of p_org and pass; a client user passes when
-- confirmed or when the org's vault is the MSP's. (sql/010.)
-- PL/pgSQL, not SQL (issue 28): a SQL function whose body holds a sub-query is never
-- inlined, and PostgreSQL 15 plans such a body again on every call of the statement
-- that calls it (0.6 ms of a reveal's 2.1 ms of database time); PL/pgSQL keeps its plan
-- for the connection's life. Same rule, same answers.
CREATE OR REPLACE FUNCTION user_trusted(p_user uuid, p_org uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN NOT EXISTS (SELECT 1 FROM users u JOIN orgs o ON o.id = u.org_id
                        WHERE u.id = p_user AND u.org_id = p_org AND NOT u.client_confirmed
                          AND o.vault_control <> 'msp');
END $$;
GRANT EXECUTE ON FUNCTION user_trusted(uuid, uuid) TO :"app_role";
