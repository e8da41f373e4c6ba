# misync: `make run` starts everything locally; `make test` runs every check and test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install run test check lint typecheck pytest openapi migrate clean

install: $(VENV)/.installed

# Pinned versions (requirements.lock) first, then the project itself without touching them.
$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

run: install
	$(BIN)/misync run

test: install check pytest

check: lint typecheck

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

openapi: install
	$(BIN)/misync openapi > openapi/openapi.json

migrate: install
	$(BIN)/alembic upgrade head

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
