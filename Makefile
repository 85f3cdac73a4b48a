# The two commands a newcomer needs: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint lock bench

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/oneflow serve

test: $(BIN)/.installed
	$(BIN)/ruff check oneflow_ai tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lock: $(BIN)/.installed
	$(BIN)/pip freeze --exclude-editable | grep -v '^oneflow-ai' > requirements.lock

bench: $(BIN)/.installed
	$(BIN)/python -m bench.run
