# The two commands a newcomer needs: `make run` and `make test` (`make lint` and then the tests). All create .venv on
# first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint lock bench

# Every dependency comes from the lock, each file checked against its hash; the package itself goes in on top.
$(BIN)/.installed: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

run: $(BIN)/.installed
	$(BIN)/oneflow serve

lint: $(BIN)/.installed
	$(BIN)/ruff check oneflow_ai tests bench
	$(BIN)/ruff format --check oneflow_ai tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

# Re-pin after changing pyproject.toml: pins already in the locks are kept unless they no longer fit (pip-compile's
# rule). requirements-dev.lock (every extra: what make and CI install); requirements.lock (the runtime and `otel`,
# within the dev lock: what the Docker image installs).
LOCK_FLAGS := --quiet --generate-hashes --no-emit-find-links --no-emit-index-url --strip-extras --unsafe-package oneflow-ai
lock: $(BIN)/.installed
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev --extra bench -o requirements-dev.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra otel -c requirements-dev.lock -o requirements.lock pyproject.toml

bench: $(BIN)/.installed
	$(BIN)/python -m bench.run
