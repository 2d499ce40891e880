# cybertriage: `make run` scans the bundled demo evidence; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_CASE ?= demo-case
# Debian packages the tests use as independent references and to build test images.
TEST_PACKAGES := sleuthkit ewf-tools mtools dosfstools e2fsprogs ntfs-3g exfatprogs gdisk fdisk yara libmagic1 zip unzip file poppler-utils fonts-dejavu-core pev binutils \
  libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libxcb-cursor0 libgl1 xvfb tshark \
  libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0
TEST_TOOLS := fls mmls mkfs.exfat icat tsk_recover ewfacquire ewfverify mcopy mkfs.vfat mkfs.ext4 mkntfs ntfscp sgdisk sfdisk yara zip unzip file pdftotext pdfinfo pdftoppm xvfb-run readpe objdump tshark editcap

.PHONY: run test system-packages bench fuzz clean

$(BIN)/cybertriage: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: $(BIN)/cybertriage
	rm -rf $(DEMO_CASE)
	$(BIN)/cybertriage scan resources/demo/demo-disk.img --case $(DEMO_CASE); \
	  status=$$?; [ $$status -le 1 ] || exit $$status
	$(BIN)/cybertriage report --case $(DEMO_CASE) --pdf $(DEMO_CASE)/report.pdf --html $(DEMO_CASE)/report.html \
	  --case-number DEMO-0001
	@echo "Case written to $(DEMO_CASE)/ — try: $(BIN)/cybertriage info --case $(DEMO_CASE)"

system-packages:
	@missing=""; for tool in $(TEST_TOOLS); do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "missing test tools:$$missing — installing Debian packages"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES); \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES); fi; \
	fi

test: $(BIN)/cybertriage system-packages
	$(BIN)/python -m pytest -q

bench: $(BIN)/cybertriage system-packages
	$(BIN)/python bench/disk_triage.py

N ?= 20000
fuzz: $(BIN)/cybertriage system-packages
	$(BIN)/python -m tests.fuzz --cases $(N)

clean:
	rm -rf $(VENV) $(DEMO_CASE) build dist *.egg-info .pytest_cache
