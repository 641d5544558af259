# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv bench bench-inprocess bench-ledger bench-webhooks bench-recon bench-search bench-metrics bench-dashboard bench-sandbox chaos casestudy

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

venv: $(STAMP)

## Set everything up on a fresh machine and run web, worker, beat and the sandbox processor.
run: venv
	@./scripts/run

## The whole test suite (PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set; SQLite otherwise).
test: venv
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

## ruff (lint and format) and the import contract (.importlinter).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

## Confirmed card payments per second through the real API (PostgreSQL, the web server, the sandbox), driven by
## wrk (scripts/setup-bench installs it), and the CPU per payment of each process. BENCH_ARGS: --server granian,
## --mode sync|async|both (async: Prefer: respond-async with a Celery worker), --outage SECONDS…
bench: venv
	@./scripts/setup-bench
	$(BIN)/python -m benchmarks.bench_payments $(BENCH_ARGS)

## The sandbox processor's own CPU per charge (tok_visa, automatic capture, sent by the platform's adapter).
bench-sandbox: venv
	$(BIN)/python -m benchmarks.bench_sandbox $(BENCH_ARGS)

## ledger_check over one million postings on PostgreSQL.
bench-ledger: venv
	DATABASE_URL=$${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ledger_bench} $(BIN)/python benchmarks/ledger_check_bench.py $(BENCH_ARGS)

## Events per second from the outbox to a local receiver, signed, with one worker (Redis, PostgreSQL).
bench-webhooks: venv
	$(BIN)/python -m benchmarks.bench_webhooks $(BENCH_ARGS)

## Reconciling a settlement file of one million lines on PostgreSQL, against COPY plus one join.
bench-recon: venv
	$(BIN)/python -m benchmarks.bench_recon $(BENCH_ARGS)

## The back office's payment search over one million payments on PostgreSQL (the admin's count and first page per
## term, with EXPLAIN ANALYZE). BENCH_ARGS: --payments N, --repeat N, --database NAME, --reuse, --plans.
bench-search: venv
	$(BIN)/python -m benchmarks.bench_search $(BENCH_ARGS)

## The admin's dashboard over one million payments on PostgreSQL: each panel's queries in ms, and the whole page.
## BENCH_ARGS: --payments N, --days D (the payments' spread), --database NAME, --reuse.
bench-dashboard: venv
	$(BIN)/python -m benchmarks.bench_dashboard $(BENCH_ARGS)

## One /metrics scrape (every database collector) with 100 000 payments on PostgreSQL (--payments N).
bench-metrics: venv
	$(BIN)/python -m benchmarks.bench_metrics $(BENCH_ARGS)

## The fault simulator: the whole stack under seeded faults, then the checks (docs/reliability.md).
## CHAOS_SECONDS (default 120) and CHAOS_SEED (default 1) pick the run; CHAOS_ARGS adds options (--no-faults…).
chaos: venv
	$(BIN)/python -m chaos --seconds $${CHAOS_SECONDS:-120} --seed $${CHAOS_SEED:-1} $(CHAOS_ARGS)

## The case study, executable (issue 16): the same seeded orders and faults against the naive design and the platform,
## then synchronous against asynchronous confirmation through a processor outage; a table, the JSON's last line,
## var/reports/casestudy-<seed>.json. CASESTUDY_SECONDS (per phase, default 30) and CASESTUDY_SEED (default 1);
## CASESTUDY_DATABASE names the run's PostgreSQL database (default casestudy_<seed>, dropped at the end).
casestudy: venv
	DJANGO_DEBUG=1 $(BIN)/python manage.py casestudy --seconds $${CASESTUDY_SECONDS:-30} --seed $${CASESTUDY_SEED:-1} --json $(CASESTUDY_ARGS)

## What one create-and-confirm costs the web tier (CPU, SQL statements, commits), in one process.
bench-inprocess: venv
	$(BIN)/python -m benchmarks.bench_inprocess $(BENCH_ARGS)
