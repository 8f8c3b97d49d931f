# One command per job.  `make up`, `make demo` and `make test` install everything they need from nothing.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Debian's interpreter lives under /usr, which the sandbox mounts read-only: the unprivileged
# sandbox user can run the same runtime as the grader.
SYSTEM_PYTHON := /usr/bin/python3
# The platform (JupyterHub on this machine, `make up`): what every user runs lives under /opt,
# built from the same lock (and lib/nbexpect, the test cells' helpers); the proxy comes from npm, the test browser from Debian.
RUNTIME := /opt/lesson03/venv
PROXY_VERSION := 5.3.0
CHROMIUM := /usr/bin/chromium
# MNIST for the course data that `make up` builds (03.2): the real test set beside the checkout on
# machines without internet; empty: Keras' cache, then its download.
MNIST_SOURCE ?= $(firstword $(wildcard ../shared/data/mnist))

.PHONY: install system-packages demo test lint typecheck unit clean up down runtime proxy chromium

system-packages:
	@if ! command -v bwrap >/dev/null || ! command -v setpriv >/dev/null || ! $(SYSTEM_PYTHON) -c 'import ensurepip' 2>/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			bubblewrap util-linux python3 python3-venv python3-dev >/dev/null; \
	fi

# nbexpect, the helpers test cells import, is installed as a copy (not editable): sandboxed kernels
# run this environment and see none of the checkout.
NBEXPECT := $(shell find lib/nbexpect -name '*.py' -o -name pyproject.toml | grep -v egg-info)
$(BIN)/.installed: requirements.lock pyproject.toml $(NBEXPECT) | system-packages
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation ./lib/nbexpect
	rm -rf lib/nbexpect/build
	touch $@

install: system-packages $(BIN)/.installed

# The users' runtime: JupyterLab, nbgrader and the kernels' libraries, readable and runnable by
# everyone (the grading engine stays in .venv, which students never need).  Its stamp names the
# lock's digest, so a fresh clone of the same lock (CI) does not rebuild it.
# The Check button (lib/autograder_check: a prebuilt JupyterLab extension and its server extension).
CHECK_EXT := $(shell find lib/autograder_check/autograder_check lib/autograder_check/jupyter-config -type f -not -path '*__pycache__*') lib/autograder_check/pyproject.toml
RUNTIME_STAMP := $(RUNTIME)/.installed-$(shell cat requirements.lock $(NBEXPECT) $(CHECK_EXT) | sha256sum | cut -c1-16)
$(RUNTIME_STAMP): | system-packages
	$(SYSTEM_PYTHON) -m venv $(RUNTIME)
	$(RUNTIME)/bin/python -m pip install -q --upgrade pip
	$(RUNTIME)/bin/python -m pip install -q -r requirements.lock
	$(RUNTIME)/bin/python -m pip install -q --no-deps --no-build-isolation ./lib/nbexpect ./lib/autograder_check
	rm -rf lib/nbexpect/build lib/autograder_check/build lib/autograder_check/*.egg-info
	chmod -R go-w,a+rX $(dir $(RUNTIME)) $(RUNTIME)
	rm -f $(RUNTIME)/.installed*
	touch $@

runtime: $(RUNTIME_STAMP)

proxy:
	@if [ "$$(configurable-http-proxy --version 2>/dev/null)" != "$(PROXY_VERSION)" ]; then \
		command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }; \
		npm install -g --silent configurable-http-proxy@$(PROXY_VERSION) >/dev/null; \
	fi

chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	fi

# Start the platform on 127.0.0.1:8000 with the course released; prints new accounts' passwords once.
up: install runtime proxy
	$(BIN)/python -m autograder.hub up $(if $(MNIST_SOURCE),--mnist-source $(MNIST_SOURCE))

down:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m autograder.hub down; fi

demo: install
	$(BIN)/autograder demo

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

test: install runtime proxy chromium
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) demo submitted autograded feedback gradebook.db
