# Strongroom silent setup on Windows, InstallShield-style:
#   powershell -File setup\windows\install.ps1 -a -s -f1"C:\Windows\WindowsPrimaryMSP.iss" -f2"C:\Windows\WindowsPrimaryMSP.log"
#   powershell -File setup\windows\install.ps1 -a -s -f1"C:\Windows\WindowsUninstallMSP.iss" -f2"C:\Windows\WindowsUninstallMSP.log"
# -a: administrative install, -s: silent, -f1: answer file, -f2: log file.
# Thin by design: makes a Python virtual environment, installs Strongroom into it and
# calls `strongroom install --answer-file F1 --log F2 --service windows`, where all the
# logic lives (ACTION=uninstall in the .iss file uninstalls). Add -dryrun to print every
# command (icacls, initdb.exe, sc.exe) without running it. The service itself is
# server/ops/winservice.py (pywin32, installed on Windows only).
$ErrorActionPreference = "Stop"

$AnswerFile = $null; $LogFile = $null; $Silent = $false; $DryRun = $false
for ($i = 0; $i -lt $args.Count; $i++) {
    $arg = [string]$args[$i]
    switch -Regex ($arg) {
        '^-a$'       { break }
        '^-s$'       { $Silent = $true; break }
        '^-dryrun$'  { $DryRun = $true; break }
        '^-f1(.*)$'  { $AnswerFile = $Matches[1].Trim('"'); if (-not $AnswerFile) { $i++; $AnswerFile = $args[$i] }; break }
        '^-f2(.*)$'  { $LogFile = $Matches[1].Trim('"'); if (-not $LogFile) { $i++; $LogFile = $args[$i] }; break }
        default      { Write-Error "unknown argument: $arg" }
    }
}
if (-not $Silent -or -not $AnswerFile) {
    Write-Error 'usage: install.ps1 -a -s -f1"ANSWER.iss" [-f2"LOG.log"] [-dryrun]'
}
if (-not $LogFile) { $LogFile = [System.IO.Path]::ChangeExtension($AnswerFile, ".log") }

$Root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
$Venv = Join-Path $Root ".venv"
$Python = (Get-Command py -ErrorAction SilentlyContinue)
if ($Python) { $PyExe = "py"; $PyArgs = @("-3") } else { $PyExe = "python"; $PyArgs = @() }
if (-not (Test-Path (Join-Path $Venv "Scripts\python.exe"))) {
    & $PyExe @PyArgs -m venv $Venv
    if ($LASTEXITCODE -ne 0) { Write-Error "Python 3.11+ is required (python.org installer)" }
}
$VenvPython = Join-Path $Venv "Scripts\python.exe"
& $VenvPython -m pip install -q --upgrade pip
& $VenvPython -m pip install -q -e $Root
if ($LASTEXITCODE -ne 0) { Write-Error "installing Strongroom into $Venv failed" }

$Command = @("-m", "server.ops.cli", "install", "--answer-file", $AnswerFile, "--log", $LogFile, "--service", "windows")
if ($DryRun) { $Command += "--dry-run" }
& $VenvPython @Command
exit $LASTEXITCODE
