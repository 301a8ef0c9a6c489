-- Attacker finding 4 (session 8): an SSH key's fingerprint was unique per org, so a
-- colleague could register someone's public key first and block them, and the 409 told
-- who had which key. A key is now unique per user: the SSH gateway finds the user by the
-- SSH user name (server/services/gateway_login.py joins the key on that user), so two
-- users holding the same public key stay two users.
ALTER TABLE user_ssh_keys DROP CONSTRAINT user_ssh_keys_org_id_fingerprint_key;
ALTER TABLE user_ssh_keys ADD CONSTRAINT user_ssh_keys_user_fingerprint UNIQUE (user_id, fingerprint);
