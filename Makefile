# Every target installs what it needs first (`setup`), so each works on a fresh machine.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PY := .venv/bin/python
STAMP := .venv/.setup-done
MODEL := models/current

.PHONY: help setup demo run train model test test-fault bench lint corrections dashboard screenshots clean

help:
	@echo "make demo    run the router end to end on a throwaway local stack (no configuration)"
	@echo "make test    run the whole test suite (unit + integration against real services)"
	@echo "make run     worker + poller against the mailbox configured in the environment (.env.example)"
	@echo "make train   train a model bundle from training_data/ (DATA=dir to use another, FORCE=1 to promote anyway)"
	@echo "make bench   print benchmark figures;  make lint   ruff + mypy"

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/ensure-system-packages
	bash scripts/ensure-system-packages
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# The model bundle is built, never committed; tests and the demo train one when none exists.
model: $(STAMP)
	@test -e $(MODEL) || $(PY) -m worker.classify.train

train: $(STAMP)
	$(PY) -m worker.classify.train $(if $(DATA),--data $(DATA)) $(if $(FORCE),--force)

demo: model
	$(PY) -m worker demo

run: model
	$(PY) -m worker run

dashboard: $(STAMP)
	$(PY) -m worker dashboard

corrections: $(STAMP)
	$(PY) -m worker corrections

test: model
	$(PY) -m pytest -q

# The fault-injection suite with a few hundred mails per scenario (make test runs it with 50).
test-fault: model
	ROUTER_FAULT_MAILS=300 $(PY) -m pytest -q tests/fault

# Refresh the README's dashboard screenshots from the browser test.
screenshots: model
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest -q tests/browser

bench: model
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(PY) -m ruff check worker tests bench
	$(PY) -m mypy

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
