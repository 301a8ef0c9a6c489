-- Whether this database may write now: not a hot standby, and not a fenced primary whose
-- statements the server runs in READ ONLY transactions (it still serves reads, as a
-- secondary does). authenticate_token and reveal_account ask it before they write behind
-- a read, and otherwise leave the write to memory and the audit spool: without this they
-- would wait for a synchronous commit that no standby will ever confirm. (sql/008.)
CREATE OR REPLACE FUNCTION database_may_write() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT NOT pg_is_in_recovery() AND NOT current_setting('transaction_read_only')::boolean
$$;
