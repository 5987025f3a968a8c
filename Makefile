# Two commands matter: `make demo` and `make test`. Each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench serve screens clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trunkdrop demo --database data/demo.db
	$(BIN)/trunkdrop simulate --customers 300 --seed 1 --report reports/munich-day.html

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: $(STAMP) lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/access_path.py
	$(BIN)/python benchmarks/access_steps.py
	$(BIN)/python benchmarks/statement_cost.py
	$(BIN)/python benchmarks/transaction_floor.py
	$(BIN)/python benchmarks/depot_day.py
	$(BIN)/python benchmarks/simulated_day.py
	$(BIN)/python benchmarks/vrprdl.py
	$(BIN)/python benchmarks/vrphrdl.py
	$(BIN)/python benchmarks/events.py

# A screenshot of each party's page (phone-sized), from the browser tests' journeys.
screens: $(STAMP)
	TRUNKDROP_SCREENS=reports/screens $(BIN)/pytest -q -p no:cacheprovider tests/browser
	@ls reports/screens

serve: $(STAMP)
	$(BIN)/trunkdrop serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
