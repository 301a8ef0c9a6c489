#!/usr/bin/env bash
# Silent uninstall of a Strongroom node on Linux:
#     setup/linux/uninstall.sh -i silent -f LinuxUninstallMSP.txt [-l uninstall.log]
# Stops and removes the service and the install directory (backups kept when the
# answer file says KEEP_BACKUPS=true).
export STRONGROOM_SETUP_COMMAND=uninstall
exec "$(dirname "${BASH_SOURCE[0]}")/install.sh" "$@"
