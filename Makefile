# git-ml: make demo (a real training through git ml run), make test, make bench.
SWIFT      ?= swift
RELEASE    := $(SWIFT) build -c release --static-swift-stdlib
BIN_DEBUG   = .build/debug/git-ml
BIN_RELEASE = .build/release/git-ml
VENV       := .venv-demo
# The real mlflow client for the tracking tests, in its own venv.
TESTVENV   := .venv-test
# scikit-learn and pandas for the autolog and log_model tests (mlflow.sklearn needs pandas); uv for
# the environment builds the tests run (git-ml finds it through GITML_UV).
MLFLOW     := mlflow-skinny==3.17.2 scikit-learn==1.9.1 pandas==3.1.1 uv==0.13.9
# giftless, an independent Git LFS server, for the lfs remote's tests (its wheel declares no
# dependencies: these are its own, pinned where newer releases break it: marshmallow 4, PyJWT 2.10).
GIFTLESS   := giftless==0.6.2 "figcan==0.0.*" "flask~=2.3" "flask-marshmallow~=0.15" "marshmallow<4" pyyaml "PyJWT<2.10" \
              "webargs~=8.3" typing-extensions python-dotenv python-dateutil cryptography "flask-classful~=0.16" \
              "werkzeug~=3.0" "cachetools~=5.3" importlib-metadata gunicorn
PREFIX     ?= /usr/local

.PHONY: all build release test demo bench install assets cli-docs deps clean

all: build

deps:
	@scripts/install-deps

build: deps
	$(SWIFT) build

release: deps
	$(RELEASE)

## Every test: unit tests of each layer and end-to-end tests that drive the built binary.
test: deps $(TESTVENV)/.installed-v4
	@python3 scripts/embed-assets --check
	$(SWIFT) build --build-tests
	GITML_TEST_PYTHON=$(CURDIR)/$(TESTVENV)/bin/python $(SWIFT) test

$(TESTVENV)/.installed-v4:
	python3 -m venv $(TESTVENV)
	$(TESTVENV)/bin/pip install -q --disable-pip-version-check $(MLFLOW) $(GIFTLESS)
	touch $@

## A real small training through git ml run, in this repository.
demo: release $(VENV)/bin/python
	@scripts/demo $(BIN_RELEASE) $(VENV)/bin/python

$(VENV)/bin/python:
	python3 -m venv $(VENV)

## Benchmarks; figures and ratios go to BENCHMARKS.md.
bench: release
	@bench/run $(BIN_RELEASE)

## The binary and its man page under PREFIX (made when missing), so `git ml --help` opens it.
## INSTALL_BIN installs another build (the tests install the debug one).
INSTALL_BIN ?= $(BIN_RELEASE)
install: $(if $(filter $(BIN_RELEASE),$(INSTALL_BIN)),release)
	install -d "$(DESTDIR)$(PREFIX)/bin" "$(DESTDIR)$(PREFIX)/share/man/man1"
	install -m 0755 "$(INSTALL_BIN)" "$(DESTDIR)$(PREFIX)/bin/git-ml"
	install -m 0644 docs/git-ml.1 "$(DESTDIR)$(PREFIX)/share/man/man1/git-ml.1"

## Regenerate Sources/Workspace/EmbeddedAssets.swift after editing hooks/ or the Python helper.
assets:
	python3 scripts/embed-assets

## Regenerate docs/cli.md and the man page docs/git-ml.1 from the command tree.
cli-docs: build
	scripts/cli-docs $(BIN_DEBUG)

clean:
	rm -rf .build $(VENV) $(TESTVENV) bench/work
