# The two commands a newcomer needs: `make run` and `make test` (`make lint` and then the tests). All create .venv on
# first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint lock bench dev test-coverage format type-check security-check audit db-migrate db-rollback \
	docker-build docker-up docker-down docker-logs k8s-deploy k8s-status k8s-logs prod-check

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

# The rest of the workflow (README: "Workflow"). Tools from the venv; docker and kubectl from the system.

# Auto-reload on a change under oneflow_ai/: uvicorn's own reloader (it polls files: watchfiles is not a dependency).
DEV_PORT ?= 8000
RELOAD_DIR ?= oneflow_ai
dev: $(BIN)/.installed
	$(BIN)/oneflow db upgrade
	$(BIN)/uvicorn oneflow_ai.app:app_from_env --factory --reload --reload-dir $(RELOAD_DIR) --port $(DEV_PORT)

test-coverage: $(BIN)/.installed
	@$(BIN)/python -c "import pytest_cov" 2>/dev/null || { echo "make test-coverage: pytest-cov is not installed (add it to the dev extra, then make lock)" >&2; exit 1; }
	$(BIN)/pytest -q --cov=oneflow_ai --cov-report=term-missing:skip-covered

format: $(BIN)/.installed
	$(BIN)/ruff format oneflow_ai tests bench
	$(BIN)/ruff check --fix oneflow_ai tests bench

type-check: $(BIN)/.installed
	$(BIN)/mypy

# Every skipped bandit test is listed, with the reason, in .bandit.yml.
security-check: $(BIN)/.installed
	$(BIN)/bandit -q -c .bandit.yml -r oneflow_ai

# pip-audit reads its vulnerability data from PyPI: without the network it would report every package "not found"
# and still pass, so it is refused first with a clear message.
AUDIT_PROBE ?= https://pypi.org/pypi/pip/json
audit: $(BIN)/.installed
	@$(BIN)/python -c "import urllib.request; urllib.request.urlopen('$(AUDIT_PROBE)', timeout=10)" 2>/dev/null || { echo "make audit: cannot reach $(AUDIT_PROBE): pip-audit needs PyPI's vulnerability data (network access)" >&2; exit 1; }
	$(BIN)/pip-audit --strict --progress-spinner off --require-hashes --disable-pip -r requirements.lock

# The database of DATABASE_URL (or the SQLite file in ONEFLOW_DATA_DIR). db-rollback goes back REVISION (one).
REVISION ?= -1
db-migrate: $(BIN)/.installed
	$(BIN)/oneflow db upgrade

db-rollback: $(BIN)/.installed
	$(BIN)/oneflow db downgrade $(REVISION)

# The settings of the environment (or of ENV_FILE, NAME=value lines) and CONFIG (default $$ONEFLOW_CONFIG).
prod-check: $(BIN)/.installed
	$(BIN)/oneflow check --production $(if $(ENV_FILE),--env-file $(ENV_FILE)) $(if $(CONFIG),--config $(CONFIG))

IMAGE ?= oneflow:0.1.0
COMPOSE := docker compose -f deploy/docker-compose.yml
docker-build:
	docker build -f deploy/Dockerfile -t $(IMAGE) .

docker-up:
	$(COMPOSE) up -d --build

docker-down:
	$(COMPOSE) down

docker-logs:
	$(COMPOSE) logs -f gateway

# K8S_DIR: deploy/k8s/overlays/prod (or dev, or the base deploy/k8s); K8S_NAMESPACE: the overlay's (oneflow-dev). Each target first asks the cluster of the
# current kubectl context to answer, so that no cluster is one clear line, not kubectl's retries.
K8S_DIR ?= deploy/k8s/overlays/prod
K8S_NAMESPACE ?= oneflow
K8S_SELECTOR := app.kubernetes.io/name=oneflow
KUBECTL_REACH = @kubectl version --request-timeout=5s >/dev/null 2>&1 || { echo "$@: no Kubernetes cluster reachable (kubectl context: $$(kubectl config current-context 2>/dev/null || echo none))" >&2; exit 1; }
k8s-deploy:
	$(KUBECTL_REACH)
	kubectl apply -k $(K8S_DIR)

k8s-status:
	$(KUBECTL_REACH)
	kubectl get deployment,pods,service,hpa,pdb,ingress -n $(K8S_NAMESPACE) -l $(K8S_SELECTOR)

k8s-logs:
	$(KUBECTL_REACH)
	kubectl logs -n $(K8S_NAMESPACE) -l $(K8S_SELECTOR) --all-containers --prefix --tail=100 -f
