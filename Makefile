# Every target sets itself up: a .venv made from the pinned requirements.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt shared/requirements.txt | sha1sum | cut -c1-12)
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed-$(shell cat requirements-sam.txt | sha1sum | cut -c1-12)
# checkov has its own venv: its dependencies would fight the product's pins.
CKV_VENV := .venv-checkov
CKV_STAMP := $(CKV_VENV)/.installed-$(shell cat requirements-checkov.txt | sha1sum | cut -c1-12)
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0

.PHONY: run test lint validate build bench pr install clean openapi create-org mutation redrive

$(STAMP): requirements-dev.txt shared/requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*; touch $@

$(SAM_STAMP): requirements-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	@rm -f $(SAM_VENV)/.installed-*; touch $@

$(CKV_STAMP): requirements-checkov.txt
	@test -x $(CKV_VENV)/bin/python || $(PYTHON) -m venv $(CKV_VENV)
	$(CKV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CKV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@rm -f $(CKV_VENV)/.installed-*; touch $@

install: $(STAMP)

## The main job: the whole system on the embedded local stack (options: ARGS="--duration 60 --minute 2").
run: $(STAMP)
	$(BIN)/python -m local.stack $(ARGS)

## Every test: unit, integration (moto server), e2e (local stack) and browser tests.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared functions local

validate: $(STAMP) $(SAM_STAMP) $(CKV_STAMP)
	$(SAM_VENV)/bin/sam validate --lint --template template.yaml
	$(CKV_VENV)/bin/checkov --config-file .checkov.yaml -f template.yaml
	$(BIN)/cfn-lint template.yaml

build: $(SAM_STAMP)
	$(SAM_VENV)/bin/sam build --template template.yaml

bench: $(STAMP)
	$(BIN)/python -m local.bench $(ARGS)

## Mutation testing of the guarantee-carrying modules (not part of `make test`; minutes): ARGS="--module poll/cursor.py"
mutation: $(STAMP)
	$(BIN)/python -m local.mutation $(ARGS)

openapi: $(STAMP)
	PYTHONPATH=shared $(BIN)/python -m bcpoller.api.openapi_export > docs/openapi.json

## Create an organization and its first user (prints the secrets once): TABLE_NAME=... NAME="My team"
create-org: $(STAMP)
	@test -n "$(TABLE_NAME)" || { echo "set TABLE_NAME to the stack's TableName output"; exit 2; }
	PYTHONPATH=shared $(BIN)/python -m bcpoller.api.admin create-org --name "$(or $(NAME),default)"

## Dead-lettered events of the running local stack back for delivery: ARGS="--instance ID"
redrive: $(STAMP)
	$(BIN)/python -m local.redrive $(ARGS)

pr: lint validate build test

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CKV_VENV) .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
