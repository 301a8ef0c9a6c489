; Strongroom silent install: a SECONDARY node enrolled with an existing primary.
; On the primary first: strongroom cluster enroll-token   (valid once, 30 minutes)
; Run: install.ps1 -a -s -f1"C:\Windows\WindowsSecondaryMSP.iss" -f2"C:\Windows\WindowsSecondaryMSP.log"
[InstallShield Silent]
Version=v7.00
File=Response File

[Strongroom]
ACTION=install
; Folder to install into (absolute).
USER_INSTALL_DIR=C:\Program Files\Strongroom
; true: replace an existing install; false: refuse if the folder is not empty.
FILE_OVERWRITE=false
ROLE=secondary
; This node's name (must differ from the primary's).
NODE_NAME=node2
; The primary's address and the enrollment token made there.
PRIMARY_ADDRESS=https://primary.example.com:7272
ENROLLMENT_TOKEN=sre1.PASTE-THE-TOKEN-HERE
; The primary's PostgreSQL as this node reaches it (default: the address's host).
PRIMARY_DB=
; The administrator's e-mail address and country (required); contact details (optional).
MailId=admin@example.com
; The administrator's full name (optional; shown by strongroom status and the TUI).
Name=
Country=United States
PHONE=
COMPANY=Example MSP
; The address the HTTPS server listens on (empty: all addresses, 0.0.0.0).
HOST=
PORT=7272
DB_PORT=7432
SERVICE_NAME=Strongroom
; How the primary and clients reach this node, and the address its embedded PostgreSQL
; listens on for the primary (needed when the primary rejoins after a failover). The
; witness and failover settings come from the primary.
PUBLIC_URL=
DB_LISTEN=
; true: this node rejoins as the secondary by itself after it was replaced as primary.
AUTO_REJOIN=true
