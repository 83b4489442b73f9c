# 政务公开咨询助手 — set up, train, run and test.
# `make run` and `make test` work on a fresh machine: each target builds what it needs first.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL := models/govbot.tar.gz
RASA_PORT ?= 5005
ACTION_PORT ?= 5055

# Privacy: no telemetry or error reports leave the machine; no model hub is contacted.
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Few malloc arenas: torch's worker threads otherwise keep freed memory in many arenas, and the test
# process (one session of models, indexes and fixtures) grows towards the machine's limit.
export MALLOC_ARENA_MAX ?= 2

NLU_DATA := $(shell find data -type f 2>/dev/null)
WEB_STAMP := web/node_modules/.govbot-installed
WEB_BUNDLE := web/dist/govbot-widget.js
WEB_SRC := $(shell find web/src -type f 2>/dev/null) web/build.mjs
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: help setup venv model index train validate run shell test clean distclean web browser fonts bench nginx prometheus

help:
	@echo "make run    — 安装环境、准备模型、构建知识库索引、训练并启动助手"
	@echo "make test   — 安装环境并运行全部测试"
	@echo "make train | make index | make validate | make web | make bench | make clean"

setup: venv model index

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml scripts/find-python310.sh
	@test -x $(BIN)/python || "$$(scripts/find-python310.sh)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==26.3"
	$(BIN)/python -m pip install --progress-bar off -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@# Rasa 3.6 starts Sentry error reporting whenever its bundled key file exists, whatever
	@# RASA_TELEMETRY_ENABLED says; without the file nothing is ever reported (tests/test_no_outbound.py).
	$(BIN)/python -c "import importlib.util, pathlib; pathlib.Path(importlib.util.find_spec('rasa').origin).with_name('keys').unlink(missing_ok=True)"
	@touch $@

model: venv
	$(BIN)/govbot model prepare

index: model
	$(BIN)/govbot kb build

$(MODEL): $(STAMP) config.yml domain.yml $(NLU_DATA)
	$(BIN)/rasa train --fixed-model-name govbot --out models

train: $(MODEL)

validate: venv
	$(BIN)/rasa data validate  # Rasa 3.6 warns that form prompts (utter_ask_*) are unused; tests check the rest

# The production profile puts nginx in front of its replicas (scripts/run.sh).
run: index train web $(if $(filter production,$(GOVBOT_PROFILE)),nginx)
	RASA_PORT=$(RASA_PORT) ACTION_PORT=$(ACTION_PORT) scripts/run.sh

# Chat in the terminal while `make run` is running (uses its action server).
shell: train
	ACTION_ENDPOINT_URL=http://127.0.0.1:$(ACTION_PORT)/webhook $(BIN)/rasa shell --model $(MODEL) \
		--endpoints endpoints.yml --port 5006

# Benchmark against Rasa's own moodbot (trained once into .cache/bench); results in bench/results/.
# The last line reads `throughput ratio at 20 concurrent vs moodbot: X.XX`. BENCH_ARGS: see `python -m bench --help`.
bench: index train
	$(BIN)/python -m bench $(BENCH_ARGS)

# TEST_WORKERS parallel pytest workers (pytest-xdist): a test file, the run.sh stack's tests and the
# production-profile stacks' tests are each one group that one worker runs (tests/conftest.py);
# TEST_WORKERS=0 runs everything in one process. --durations: the slowest setups and tests.
# pytest exits 5 when it collects nothing (e.g. a -k filter that matches no test): not a failure.
TEST_WORKERS ?= 2
test: index train web browser nginx prometheus
	$(BIN)/python -m pytest -ra --durations=30 -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS) || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest: no tests collected" || exit $$rc; }

# Web widget and kiosk bundle (web/dist): `npm ci` when the lock file changes, esbuild when sources change.
$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

$(WEB_BUNDLE): $(WEB_STAMP) $(WEB_SRC)
	cd web && npm run build

web: $(WEB_BUNDLE)

# Headless Chromium for the widget and kiosk tests, from Debian (Playwright never downloads a browser).
browser: fonts
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium chromium-driver; }

# nginx, the production profile's reverse proxy and the scale-out tests' (scripts/run.sh), from Debian.
# Only the binary is used: each stack runs it as the invoking user with its own config under var/.
nginx:
	@test -x /usr/sbin/nginx || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends nginx; }

# promtool, which checks and unit-tests the alert rules (deploy/prometheus, tests/test_prometheus.py), from
# Debian's prometheus package. Only the binary is used: the package's Prometheus service is not needed.
prometheus:
	@test -x /usr/bin/promtool || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends prometheus \
		&& { $(SUDO) systemctl disable --now prometheus >/dev/null 2>&1 || true; }; }

# A Chinese font for the analytics charts and the browser screenshots, whether or not Chromium was
# already there: installed whenever the charts find none (bot.analytics.report.cjk_font).
fonts: venv
	@$(BIN)/python -c "from bot.analytics.report import cjk_font; raise SystemExit(cjk_font() is None)" \
		|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y fontconfig fonts-wqy-microhei; }

clean:
	rm -rf models results .pytest_cache tests/artifacts web/dist

distclean: clean
	rm -rf $(VENV) .cache web/node_modules
