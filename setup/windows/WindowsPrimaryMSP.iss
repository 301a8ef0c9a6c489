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
; Contact details (optional) and country (required).
PHONE=
COMPANY=Example MSP
Country=United States
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
