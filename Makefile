# Two entry points: `make run` (the bot; the sandbox when no token is set) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench lock clean

# the same install script as the Dockerfile and the systemd guide (pinned by requirements.lock)
$(STAMP): pyproject.toml requirements.lock scripts/install.sh
	PYTHON=$(PYTHON) bash scripts/install.sh --dev $(VENV)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot run

test: $(STAMP)
	$(BIN)/ruff check .
	bash scripts/install-chromium.sh || echo "(the browser test will say why it is skipped)"
	bash scripts/postgres.sh install || echo "(the PostgreSQL tests will say why they are skipped)"
	bash scripts/nginx.sh install || echo "(the test behind nginx will say why it is skipped)"
	$(BIN)/python -m pytest -n 4 --dist loadgroup

bench: $(STAMP)  # every benchmark, written to bench/REPORT.md (bench/run --quick: a minute)
	PYTHON=$(BIN)/python bench/run

lock:  # pin the dependencies again after changing them in pyproject.toml
	PYTHON=$(PYTHON) bash scripts/install.sh --write-lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
