; Strongroom silent uninstall (Windows).
; Run: install.ps1 -a -s -f1"C:\Windows\WindowsUninstallMSP.iss" -f2"C:\Windows\WindowsUninstallMSP.log"
[InstallShield Silent]
Version=v7.00
File=Response File

[Strongroom]
; uninstall: stop and delete the service, remove USER_INSTALL_DIR.
ACTION=uninstall
USER_INSTALL_DIR=C:\Program Files\Strongroom
; true: keep USER_INSTALL_DIR\backups; false: remove everything.
KEEP_BACKUPS=true
SERVICE_NAME=Strongroom
