#!/bin/sh
# Smoke test of the frozen build, as on a workstation without Python: copies the one-folder build somewhere
# else and runs it from a bare environment (no venv, no PYTHONPATH, PATH=/usr/bin:/bin, working directory
# outside the checkout), on the demo evidence the bundle itself carries.
# Usage: tests/installer_check.sh [DIST_FOLDER]   (default: dist/cybertriage; `make installer-check` runs it)
set -eu
dist=${1:-dist/cybertriage}
[ -x "$dist/cybertriage" ] && [ -x "$dist/cybertriage-gui" ] || { echo "installer-check: no build in $dist" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/cybertriage-installer-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -a "$dist" "$work/cybertriage"
app=$work/cybertriage
demo=$app/_internal/resources/demo/demo-disk.img
capture=$app/_internal/resources/demo/demo-capture.pcap
windows=$app/_internal/resources/demo/demo-windows.img
vm=$app/_internal/resources/demo/demo-vm.qcow2

bare() { (cd "$work" && env -i PATH=/usr/bin:/bin HOME="$HOME" "$@"); }
fail() { echo "installer-check: FAIL: $*" >&2; exit 1; }
step() { echo "installer-check: $*"; }

step "cybertriage --version"
bare "$app/cybertriage" --version | tee "$work/version.txt"
grep -Eq '^bundled rules sha256 [0-9a-f]{64}$' "$work/version.txt" || fail "--version does not give the rules' sha256"

step "lab scale: the PostgreSQL client and the Celery/Redis client are in the bundle"
status=0
bare "$app/cybertriage" scan "$capture" --case "$work/no-case" --store postgresql://nobody@127.0.0.1:1/none \
    2> "$work/store.txt" || status=$?
[ "$status" -eq 2 ] && grep -q "cannot reach the case store" "$work/store.txt" || fail "scan --store: $(cat "$work/store.txt")"
status=0
bare "$app/cybertriage" worker --broker redis://127.0.0.1:1/0 2> "$work/broker.txt" || status=$?
[ "$status" -eq 2 ] && grep -q "cannot reach the broker" "$work/broker.txt" || fail "worker: $(cat "$work/broker.txt")"

step "cybertriage scan (demo evidence)"
status=0
bare "$app/cybertriage" scan "$demo" "$windows" "$vm" "$capture" --case "$work/case" || status=$?
[ "$status" -eq 0 ] || fail "scan of the demo evidence exited $status (the demo is fully readable: 0 expected)"
# What resources/demo/README.md says is on the demo disk, found by YARA (libyara + bundled rules),
# libmagic (bundled library and database) and pefile; and the zip's download in the capture, analysed in
# a child process of the frozen program.
bare "$app/cybertriage" export --case "$work/case" --what findings > "$work/findings.jsonl"
for expected in '"rule": "EICAR_Test_File".*"object": "/Downloads/eicar.com"' \
                '"analyzer": "filetype", "rule": "executable-disguised".*"object": "/Pictures/holiday.jpg"' \
                '"analyzer": "pe".*"object": "/Pictures/holiday.jpg"' \
                '"rule": "arrived-over-network".*"object": "/Downloads/invoice_update.zip"'; do
    grep -Eq "$expected" "$work/findings.jsonl" || fail "no finding matching $expected"
done
# The suspect's VM: libqcow opens the QCOW2 disk, libarchive the tar.gz inside it, the mail reader the e-mail and
# its zip attachment; YARA flags the PowerShell cradle in the backup and in the attachment.
for expected in '"evidence": "[^"]*demo-vm\.qcow2".*"rule": "PowerShell_Download_Cradle".*"object": "/backup/documents\.tar\.gz!documents/tools/update\.ps1"' \
                '"evidence": "[^"]*demo-vm\.qcow2".*"rule": "PowerShell_Download_Cradle".*"object": "/mail/invoice\.eml!invoice_update\.zip!update\.ps1"'; do
    grep -Eq "$expected" "$work/findings.jsonl" || fail "no finding matching $expected"
done
# The Windows computer's artefacts, each read by its bundled library (regipy, the evtx crate, libscca, LnkParse3,
# olefile, sqlite3), and Sigma rules run by pySigma from the bundle's rules/sigma/.
bare "$app/cybertriage" export --case "$work/case" --what artifacts > "$work/artifacts.jsonl"
for kind in registry.system registry.run evtx.event prefetch lnk browser.download recycle task; do
    grep -q "\"type\": \"$kind\"" "$work/artifacts.jsonl" || fail "no $kind artefact from the demo Windows image"
done
grep -q '"analyzer": "sigma"' "$work/findings.jsonl" || fail "no Sigma rule matched the demo Windows image's event logs"
bare "$app/cybertriage" info --case "$work/case" | grep -q "Computer name:" || fail "info prints no host profile"

# As on a workstation without libmagic1 and without this checkout: where a private mount namespace is
# allowed (root), the system's libmagic and magic databases and the checkout (with its venv) are hidden.
if unshare -m true 2>/dev/null; then
    step "cybertriage scan with the system's libmagic, magic database and the checkout hidden"
    hidden=$(cd "$(dirname "$0")/.." && pwd)
    magic_path=$(file --version 2>/dev/null | sed -n 's/^magic file from //p' | tr ':' ' ')  # libmagic's own list
    for entry in $(ldconfig -p | awk '/libmagic\.so/ {print $NF}') $magic_path; do
        for file in "$entry" "$entry.mgc"; do
            [ -e "$file" ] && hidden="$hidden $(readlink -f "$file")"
        done
    done
    unshare -m sh -c 'for path in $0; do
                          if [ -d "$path" ]; then mount -t tmpfs none "$path"; else mount --bind /dev/null "$path"; fi
                      done
                      cd "$1" && env -i PATH=/usr/bin:/bin HOME="$HOME" "$2/cybertriage" scan "$3" --case isolated --quiet' \
        "$hidden" "$work" "$app" "$demo" || fail "scan without the system's libmagic or the checkout exited $?"
    bare "$app/cybertriage" export --case "$work/isolated" --what findings | grep -q '"rule": "executable-disguised"' \
        || fail "without the system's libmagic the disguised executable is not found"
else
    step "skipped: the scan without the system's libmagic (needs a private mount namespace)"
fi

step "cybertriage report --pdf"
bare "$app/cybertriage" report --case "$work/case" --pdf "$work/report.pdf"
[ "$(head -c 5 "$work/report.pdf")" = "%PDF-" ] || fail "report.pdf is not a PDF"
if command -v pdftotext >/dev/null 2>&1; then
    pdftotext "$work/report.pdf" - | grep -q "EICAR_Test_File" || fail "report.pdf does not list the EICAR finding"
fi

step "cybertriage search (the report's PDF scanned as evidence: PDFium reads its compressed text)"
mkdir "$work/documents" && cp "$work/report.pdf" "$work/documents/"
bare "$app/cybertriage" scan "$work/documents" --case "$work/documents-case" --quiet || fail "scan of the report exited $?"
bare "$app/cybertriage" search --case "$work/documents-case" EICAR_Test_File > "$work/search.txt"
grep -q "report.pdf" "$work/search.txt" || fail "the search does not find the report's text"

step "cybertriage-gui --self-test (offscreen)"
bare QT_QPA_PLATFORM=offscreen "$app/cybertriage-gui" --self-test "$work/case" || fail "cybertriage-gui --self-test exited $?"
step "OK: $(du -sh "$app" | cut -f1) in $app"
