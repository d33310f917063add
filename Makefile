# One command for the demo, one for the tests (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The scale-out test pass: real PostgreSQL and Redis on loopback (started by .ci/run when down).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/charity
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: demo test lint install

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The browser tests' accessibility audit (axe-core), pinned in package-lock.json; never served.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed node_modules/.installed

# DEBUG defaults to off (production-safe); the demo asks for it: a fixed local key, console email.
demo: export DEBUG = 1
demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Open http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)"
	@echo ""
	@# Critical notifications nobody acknowledged are emailed (console backend) by a companion loop.
	$(BIN)/python manage.py escalate_notifications --every 60 & trap 'kill $$!' EXIT; \
		$(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

# Two passes: the embedded default (SQLite, in-memory layer), then scale-out (PostgreSQL, Redis,
# real daphne processes). Each run uses its own Redis key prefix so runs never see each other.
test: lint
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest -m "not scaleout" $(PYTEST_ARGS)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) REDIS_PREFIX=charity-test-$$$$ CONN_MAX_AGE=0 \
		$(BIN)/pytest $(PYTEST_ARGS)

# The fan-out benchmark (bench/README.md): B0 (raw ASGI), B1 (plain Channels) and this project on
# daphne, against the same PostgreSQL and Redis as the scale-out tests. About 16 minutes; rewrites
# docs/performance.md and docs/performance.png. Not part of `test` (which only runs a smoke of it).
# BENCH_ARGS=--quick for 100 and 1,000 sockets only.
.PHONY: bench
bench: install
	BENCH_DATABASE_URL=$(TEST_DATABASE_URL) BENCH_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m bench.run --profile $(BENCH_ARGS)
