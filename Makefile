# Two commands on a fresh Debian/Ubuntu machine:
#   make run    set up, then serve the demo ceremony on http://127.0.0.1:8080
#   make test   set up, then lint, type-check and run every test
VENV      ?= .venv
PYTHON    ?= python3
DATA      ?= data
HOST      ?= 127.0.0.1
PORT      ?= 8080
DEBS      := chromium poppler-utils libnss3-tools fonts-noto-cjk coturn sqlite3 openssl libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 p7zip-full unzip faketime ffmpeg
# Several nodes (--store postgresql://, --bus redis://): the tests start their own PostgreSQL, Redis and haproxy.
DEBS      += postgresql redis-server haproxy
# npm installs hls.js (the observers' player, served from our own static route, never a CDN) and
# axe-core (for the browser tests), both pinned in package-lock.json; Debian's nodejs and npm only
# where no npm is on the PATH already (a machine with Node from elsewhere keeps it).
DEBS      += $(if $(shell command -v npm),,nodejs npm)
# The browser tests write screenshots of the pages' main states here; CI keeps the folder as an artifact.
SHOTS_DIR ?= $(CURDIR)/build/screenshots
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run demo test setup system-packages lint bench clean

run: setup
	$(VENV)/bin/ceremony serve --host $(HOST) --port $(PORT) --data $(DATA)

demo: setup
	$(VENV)/bin/ceremony demo

test: setup lint
	mkdir -p $(SHOTS_DIR)
	SHOTS_DIR=$(SHOTS_DIR) $(VENV)/bin/pytest -q -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: setup
	$(VENV)/bin/python bench/store_bench.py

setup: system-packages $(VENV)/.installed node_modules/.installed

# Installs only what is missing, so a prepared machine pays nothing.
system-packages:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

# Exactly the versions in package-lock.json (npm ci), again whenever package.json or the lockfile changes.
node_modules/.installed: package.json package-lock.json | system-packages
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info node_modules
