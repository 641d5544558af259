# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv bench bench-ledger bench-webhooks bench-recon

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

lint: venv
	$(BIN)/ruff check .

## Confirmed card payments per second through the real API (PostgreSQL, gunicorn, the sandbox).
bench: venv
	$(BIN)/python -m benchmarks.bench_payments $(BENCH_ARGS)
