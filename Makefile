# cybertriage: `make run` scans the bundled demo evidence; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_CASE ?= demo-case
CORPUS := tests/data/corpus
# captures added to a copy of the demo case so that the network and timeline views have rows
SCREENSHOT_CAPTURES := $(addprefix $(CORPUS)/pcap/,http_get.pcap wikipedia.pcap ftp_ipv4.pcap smtp.pcap tls_tls1.2.pcap)
SCREENSHOT_CASE := build/screenshot-case
# Debian packages the tests use as independent references, to build test images, and as the lab tests' servers.
TEST_PACKAGES := sleuthkit qemu-utils ewf-tools mtools dosfstools e2fsprogs ntfs-3g exfatprogs gdisk fdisk yara libmagic1 zip unzip file poppler-utils fonts-dejavu-core pev binutils \
  libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libxcb-cursor0 libgl1 xvfb tshark \
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0 \
  tcpdump dnsutils curl openssl strace libfuse2 publicsuffix reglookup libregf-utils libevtx-utils libevt-utils libscca-utils liblnk-utils sqlite3 faketime libimage-exiftool-perl libarchive13 libarchive-tools p7zip-full genisoimage gcab zstd xz-utils bzip2 testdisk unar cpio postgresql redis-server
TEST_TOOLS := fls mmls qemu-img qemu-io mkfs.exfat icat tsk_recover ewfacquire ewfverify mcopy mkfs.vfat mkfs.ext4 mkntfs ntfscp sgdisk sfdisk yara zip unzip file pdftotext pdfinfo pdftoppm xvfb-run readpe objdump tshark editcap tcpdump dig curl openssl strace reglookup regfexport evtxexport evtexport sccainfo lnkinfo sqlite3 faketime exiftool bsdtar 7z zstd xz bzip2 genisoimage gcab photorec blkls lsar unar cpio redis-server redis-cli psql pg_isready

.PHONY: run lab lint test system-packages bench fuzz screenshots clean installer installer-check

# Installing compiles the Cython hot paths in place, so an edited .pyx, or a .py with a .pxd beside it, means
# installing again (tests/analyzers/net/test_analyse.py fails on built modules older than their source).
COMPILED_SOURCES := $(wildcard cybertriage/*/*.pyx cybertriage/*/*/*.pyx cybertriage/*/*/*.pxd) \
  $(patsubst %.pxd,%.py,$(wildcard cybertriage/*/*/*.pxd))
$(BIN)/cybertriage: pyproject.toml $(COMPILED_SOURCES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/cybertriage
	rm -rf $(DEMO_CASE)
	$(BIN)/cybertriage scan resources/demo/demo-disk.img resources/demo/demo-windows.img resources/demo/demo-vm.qcow2 \
	  resources/demo/demo-capture.pcap \
	  --case $(DEMO_CASE); \
	  status=$$?; [ $$status -le 1 ] || exit $$status
	$(BIN)/cybertriage report --case $(DEMO_CASE) --pdf $(DEMO_CASE)/report.pdf --html $(DEMO_CASE)/report.html \
	  --case-number DEMO-0001
	@echo "Case written to $(DEMO_CASE)/ — try: $(BIN)/cybertriage info --case $(DEMO_CASE)"

# A local lab: PostgreSQL and Redis from Debian's packages on free ports, their data in build/lab, two workers, and
# the demo evidence scanned through them into $(LAB_CASE) (its tables in that PostgreSQL), with its report.
LAB_CASE ?= demo-lab-case
lab: $(BIN)/cybertriage
	rm -rf build/lab $(LAB_CASE) && mkdir -p build/lab
	$(BIN)/python -m cybertriage.lab --root build/lab --workers 2 --case $(LAB_CASE) \
	  resources/demo/demo-disk.img resources/demo/demo-windows.img resources/demo/demo-vm.qcow2 \
	  resources/demo/demo-capture.pcap; \
	  status=$$?; [ $$status -le 1 ] || exit $$status

system-packages:
	@missing=""; for tool in $(TEST_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "missing test tools:$$missing — installing Debian packages"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES); \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES); fi; \
	fi

# The layer contracts (pyproject.toml [tool.importlinter]), ruff and mypy ([tool.mypy]) before the tests.
lint: $(BIN)/cybertriage
	$(BIN)/lint-imports --no-cache
	$(BIN)/ruff check --no-cache cybertriage tests bench
	$(BIN)/mypy cybertriage

test: lint $(BIN)/cybertriage system-packages
	$(BIN)/python -m pytest -q -n 2

bench: $(BIN)/cybertriage system-packages
	$(BIN)/python bench/disk_triage.py

# The one-folder build for workstations without Python (dist/cybertriage/), and its smoke test from a copy
# of the folder run outside the venv (see the README's "Installer" section).
$(BIN)/pyinstaller: $(BIN)/cybertriage
	$(BIN)/pip install --quiet -e '.[dev,installer]'
	touch $@

installer: $(BIN)/pyinstaller
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN build_installer.spec
	@du -sh dist/cybertriage

installer-check: installer
	tests/installer_check.sh dist/cybertriage

screenshots: $(BIN)/cybertriage system-packages
	[ -f $(DEMO_CASE)/case.db ] || $(MAKE) run
	rm -rf $(SCREENSHOT_CASE) && mkdir -p build && cp -r $(DEMO_CASE) $(SCREENSHOT_CASE)
	$(BIN)/cybertriage scan $(SCREENSHOT_CAPTURES) --case $(SCREENSHOT_CASE) --quiet; \
	  status=$$?; [ $$status -le 1 ] || exit $$status
	xvfb-run -a -s "-screen 0 1920x1200x24" $(BIN)/python -m cybertriage.gui.screenshots $(SCREENSHOT_CASE) docs/screenshots

N ?= 20000
fuzz: $(BIN)/cybertriage system-packages
	$(BIN)/python -m tests.fuzz --cases $(N)

clean:
	rm -rf $(VENV) $(DEMO_CASE) build dist *.egg-info .pytest_cache
	find cybertriage \( -name '*.so' -o -name '*.c' \) -delete
