-- Trigger users_sessions_mark (sql/022): a user disabled, or whose password or second
-- factor changes, gets sessions_valid_after = now(); a session made before that moment
-- and moved from a read-only node is refused.
CREATE OR REPLACE FUNCTION user_sessions_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.status IS DISTINCT FROM OLD.status AND NEW.status <> 'active')
       OR NEW.password_hash IS DISTINCT FROM OLD.password_hash
       OR NEW.totp_secret IS DISTINCT FROM OLD.totp_secret THEN
        NEW.sessions_valid_after := now();
    END IF;
    RETURN NEW;
END $$;
