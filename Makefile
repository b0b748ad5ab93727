# vistflow: every target sets up (or refreshes) .venv itself from the committed lock file.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
# python3.10 may be a pyenv shim that fails when 3.10 is not the active version: probe candidates.
PY310 ?= $(shell for c in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
	$$c -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo $$c; break; }; done)
DEMO_DIR ?= demo_output
PYTEST_ARGS ?=
# Test files are spread over 2 processes (CI has 2 cores); a file's tests stay together so its
# module fixtures (a trained model, an Airflow home) are built once.
PYTEST_WORKERS ?= 2

# Debian packages the tests and reports use: headless Chromium (browser checks of the HTML
# reports and the serving page), WordNet 3.0 (offline WordNet for nltk's METEOR) and, when no
# `java` is on PATH, a Java runtime (METEOR 1.5 and the PTB tokenizer jars of pycocoevalcap);
# PostgreSQL for the deployment and ML Metadata tests (started and stopped by the tests).
APT_PACKAGES := chromium wordnet-base postgresql
JAVA_PACKAGE := openjdk-17-jre-headless

.PHONY: setup system-deps object-store-deps demo deploy-local deploy-stop test lint bench lock clean

$(BIN)/.installed: requirements.lock pyproject.toml
	@test -n "$(PY310)" || { echo "error: python3.10 not found (install it or pass PY310=/path/to/python3.10)"; exit 1; }
	@test -x $(BIN)/python || $(PY310) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	@touch $@

setup: system-deps $(BIN)/.installed

# The object-store tests (tests/vistflow/test_object_store.py) talk to a real S3 API on localhost:
# moto's server in its own venv (its pins never touch ours) and, for TensorFlow's s3:// and Beam's
# S3 filesystem, tensorflow-io + boto3 in a side directory put on PYTHONPATH only by those tests
# (--no-deps: the venv's tensorflow and tensorflow-io-gcs-filesystem stay as locked).
MOTO_VENV := .venv-moto
S3_SITE := .venv-s3-site
$(MOTO_VENV)/.installed:
	@test -x $(MOTO_VENV)/bin/python || $(PY310) -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/python -m pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"
	@touch $@
$(S3_SITE)/.installed:
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --target $(S3_SITE) \
		tensorflow-io==0.37.1 boto3==1.35.36 botocore==1.35.36 s3transfer==0.10.4
	@touch $@
object-store-deps: $(BIN)/.installed $(MOTO_VENV)/.installed $(S3_SITE)/.installed

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done; \
		command -v java >/dev/null || echo $(JAVA_PACKAGE)); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
			echo "error: missing Debian packages: $$missing (apt-get install them)"; exit 1; fi; \
		echo "installing Debian packages: $$missing"; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: setup
	$(BIN)/python -m commands.demo --workdir $(DEMO_DIR)

# A local deployment (pipelines/deployment.py): PostgreSQL for Airflow's metadata DB and ML
# Metadata, the real scheduler with the LocalExecutor, one retraining run of a landed partition.
DEPLOY_DIR ?= $(DEMO_DIR)/deploy
DEPLOY_DATE ?= 2026-11-02
DEPLOY = $(BIN)/python -m pipelines.deployment --dir $(DEPLOY_DIR)
deploy-local: setup
	$(DEPLOY) up $(DEPLOY_ARGS)
	$(DEPLOY) land $(DEPLOY_DATE)
	$(DEPLOY) trigger vist_retraining $(DEPLOY_DATE) --wait

deploy-stop:
	$(DEPLOY) down

test: setup object-store-deps
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m benchmarks

# Regenerate the lock from pyproject.toml + TFX 1.16's tested constraints (needs PyPI); uv.lock
# records the same versions (constraints/uv_pins.py).
lock:
	$(BIN)/uv pip compile --no-config pyproject.toml --extra dev -c constraints/tfx-1.16.0-test_constraints.txt \
		--python-version 3.10 --no-header --annotation-style line -o requirements.lock
	$(BIN)/python constraints/uv_pins.py .
	$(BIN)/uv lock --python $(BIN)/python

clean:
	rm -rf $(VENV) $(MOTO_VENV) $(S3_SITE) $(DEMO_DIR) .pytest_cache
