#!/bin/sh
# Makes SOFTWARE-made, a small SOFTWARE hive holding what a real one's 50-100 MB would: the Windows version, the
# profile list, machine Run/RunOnce keys (one clean, two an examiner must see), Winlogon, an Image File Execution
# Options debugger and a portable device. Written by hivex's hivexsh (libhivex-bin), read back in the tests by
# reglookup, so neither is cybertriage's own library (regipy).
# Base: regipy's test hive SECURITY (regipy_tests/data/SECURITY.xz, MIT), its three root keys removed.
# Usage: make_software.sh BASE_SECURITY_HIVE OUTPUT
set -eu
base=$1
out=$2
cp "$base" "$out.tmp"
chmod u+w "$out.tmp"
hivexsh -w "$out.tmp" <<'HIVE'
cd \Cache
del
cd \Policy
del
cd \RXACT
del
add Microsoft
cd Microsoft
add Windows NT
add Windows
add Windows Portable Devices
cd Windows NT
add CurrentVersion
cd CurrentVersion
setval 11
ProductName
string:Windows 10 Pro
EditionID
string:Professional
DisplayVersion
string:22H2
ReleaseId
string:2009
CurrentBuild
string:19045
CurrentBuildNumber
string:19045
UBR
dword:0x00000edb
InstallDate
dword:0x63c3e0d7
RegisteredOwner
string:Alice Example
RegisteredOrganization
string:Example Ltd
SystemRoot
string:C:\WINDOWS
add ProfileList
add Winlogon
add Image File Execution Options
cd ProfileList
add S-1-5-18
add S-1-5-21-1111111111-2222222222-3333333333-1001
cd S-1-5-18
setval 1
ProfileImagePath
expandstring:%systemroot%\system32\config\systemprofile
cd ..
cd S-1-5-21-1111111111-2222222222-3333333333-1001
setval 2
ProfileImagePath
expandstring:C:\Users\alice
Flags
dword:0
cd \Microsoft\Windows NT\CurrentVersion\Winlogon
setval 2
Shell
string:explorer.exe
Userinit
string:C:\Windows\system32\userinit.exe,C:\Users\Public\svchost.exe
cd \Microsoft\Windows NT\CurrentVersion\Image File Execution Options
add sethc.exe
add notepad.exe
cd sethc.exe
setval 1
Debugger
string:C:\ProgramData\tools\cmd.exe
cd ..
cd notepad.exe
setval 1
GlobalFlag
dword:0x00000200
cd \Microsoft\Windows
add CurrentVersion
cd CurrentVersion
add Run
add RunOnce
cd Run
setval 2
SecurityHealth
expandstring:%windir%\system32\SecurityHealthSystray.exe
Updater
string:powershell.exe -NoP -W Hidden -Enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA
cd ..
cd RunOnce
setval 1
cleanup
string:C:\Windows\Temp\cleanup.exe /quiet
cd \Microsoft\Windows Portable Devices
add Devices
cd Devices
add WPDBUSENUMROOT#UMB#2&37C186B&0&STORAGE#VOLUME#_??_USBSTOR#DISK&VEN_SANDISK&PROD_CRUZER&REV_1.20#200608767007B7C08A6A&0#
cd WPDBUSENUMROOT#UMB#2&37C186B&0&STORAGE#VOLUME#_??_USBSTOR#DISK&VEN_SANDISK&PROD_CRUZER&REV_1.20#200608767007B7C08A6A&0#
setval 1
FriendlyName
string:CRUZER
cd \
add WOW6432Node
cd WOW6432Node
add Microsoft
cd Microsoft
add Windows
cd Windows
add CurrentVersion
cd CurrentVersion
add Run
cd Run
setval 1
Adobe ARM
string:"C:\Program Files (x86)\Common Files\Adobe\ARM\1.0\AdobeARM.exe"
commit
HIVE
mv "$out.tmp" "$out"
