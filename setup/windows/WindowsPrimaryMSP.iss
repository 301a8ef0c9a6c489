; Strongroom silent install: a PRIMARY node (Windows answer file, INI).
; Run: install.ps1 -a -s -f1"C:\Windows\WindowsPrimaryMSP.iss" -f2"C:\Windows\WindowsPrimaryMSP.log"
[InstallShield Silent]
Version=v7.00
File=Response File

[Strongroom]
; install (this file) or uninstall.
ACTION=install
; Folder to install into (absolute).
USER_INSTALL_DIR=C:\Program Files\Strongroom
; true: replace an existing install in USER_INSTALL_DIR; false: refuse if it is not empty.
FILE_OVERWRITE=false
; primary or secondary.
ROLE=primary
; This node's name in the pair.
NODE_NAME=node1
; MSPOrg's first privileged administrator; its generated password is written to
; conf\initial-admin-password and must be changed at first login.
ADMIN_NAME=admin
; The administrator's e-mail address (required).
MailId=admin@example.com
; The administrator's full name (optional; shown by strongroom status and the TUI).
Name=
; Contact details (optional) and country (required).
PHONE=
COMPANY=Example MSP
Country=United States
; The address the HTTPS server listens on (empty: all addresses, 0.0.0.0).
HOST=
; HTTPS port of the server and port of the embedded PostgreSQL.
PORT=7272
DB_PORT=7432
; Windows service name.
SERVICE_NAME=Strongroom
; Start from a backup instead of empty (strongroom backup): the file, a file holding
; its passphrase (else $STRONGROOM_BACKUP_PASSPHRASE) and, for a backup sealed for a
; recipient key, that key file. Leave RESTORE_FILE empty for a new, empty vault.
RESTORE_FILE=
RESTORE_PASSPHRASE_FILE=
RESTORE_KEY_FILE=
; High availability (optional). How the secondary and clients reach this node, and the
; address the embedded PostgreSQL listens on for the secondary (default 127.0.0.1:
; single host only).
PUBLIC_URL=
DB_LISTEN=
; The witness that arbitrates automatic failover (strongroom witness on a third host
; prints its URL and fingerprint; the token is the file DIR/token there). All three or none;
; without a witness failover is manual (strongroom promote). The secondary inherits them.
WITNESS_URL=
WITNESS_FINGERPRINT=
WITNESS_TOKEN=
; true: a replaced primary rejoins as the new secondary by itself.
AUTO_REJOIN=true
; An external PostgreSQL instead of the embedded one (a Patroni cluster, for example):
; the DSN the server connects with, e.g.
; postgresql://db1:5432,db2:5432,db3:5432/strongroom?target_session_attrs=read-write
; and a role that may create roles and databases, for init to make Strongroom's own
; (else they must exist; passwords in STRONGROOM_DATABASE_OWNER_PASSWORD and
; STRONGROOM_DATABASE_APP_PASSWORD). Leave empty for the embedded cluster.
DATABASE_DSN=
DATABASE_ADMIN_DSN=
