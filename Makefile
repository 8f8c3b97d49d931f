# One command per job.  `make demo` and `make test` install everything they need from nothing.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Debian's interpreter lives under /usr, which the sandbox mounts read-only: the unprivileged
# sandbox user can run the same runtime as the grader.
SYSTEM_PYTHON := /usr/bin/python3

.PHONY: install system-packages demo test lint typecheck unit clean

system-packages:
	@if ! command -v bwrap >/dev/null || ! command -v setpriv >/dev/null || ! $(SYSTEM_PYTHON) -c 'import ensurepip' 2>/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			bubblewrap util-linux python3 python3-venv python3-dev >/dev/null; \
	fi

$(BIN)/.installed: requirements.lock pyproject.toml | system-packages
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

install: system-packages $(BIN)/.installed

demo: install
	$(BIN)/autograder demo

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) demo submitted autograded feedback gradebook.db
