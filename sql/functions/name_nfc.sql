-- Names are stored NFC-normalised: the triggers *_nfc on user_groups, resources,
-- resource_groups and password_policies (name_nfc) and on accounts (username_nfc), made in
-- sql/012, call these.
CREATE OR REPLACE FUNCTION name_nfc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.name := normalize(NEW.name, NFC);
    RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION username_nfc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.username := normalize(NEW.username, NFC);
    RETURN NEW;
END $$;
