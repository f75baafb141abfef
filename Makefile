# hostnet.macvlan: development and CI entry points.  `make help` lists them.
#
# Every target installs what it needs first (scripts/bootstrap.sh: Debian
# packages, then .venv from requirements/), so a fresh clone only needs
# `make test`.  Tools run from .venv; Ansible finds this repository as the
# collection hostnet.macvlan through .build/collections (scripts/collection-path.sh).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BUILD := $(ROOT)/.build
STAMP := $(VENV)/.bootstrap.stamp
COLLECTIONS := $(BUILD)/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/hostnet/macvlan

# Python sources ruff checks (only the directories that exist).
LINT_PATHS := $(wildcard plugins tests scripts)
# Extra arguments: make unit PYTEST_ARGS='-k model -x'; make sanity SANITY_ARGS='--test pep8'
PYTEST_ARGS ?=
# Integration tests run in parallel (each test has its own namespaces); 2 = this machine's cores.
INTEGRATION_WORKERS ?= 2
SANITY_ARGS ?=

export PATH := $(VENV)/bin:$(PATH)
# ansible, ansible-playbook, ansible-doc, ansible-lint find hostnet.macvlan here
# (scripts/sanity.sh unsets it: ansible-test sets up its own).
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONDONTWRITEBYTECODE := 1
ifdef CI
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export NO_COLOR := 1
endif
# pytest imports ansible_collections.hostnet.macvlan.plugins... through the link
PYTEST_ENV := PYTHONPATH=$(COLLECTIONS)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: help venv bootstrap collection-path lint format sanity changelog-lint unit integration test demo build lock clean distclean

help: ## list the targets
	@grep -E '^[a-z -]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# --- setup ---------------------------------------------------------------

# Re-run bootstrap when the requirements or the script change (the script
# itself decides whether pip has anything to do, from the hash in the stamp).
$(STAMP): requirements/test.txt requirements/constraints.txt scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	@touch $@

venv bootstrap: ## install Debian packages and .venv (always re-checks; idempotent)
	bash scripts/bootstrap.sh

collection-path: $(STAMP) ## link .build/collections/ansible_collections/hostnet/macvlan -> repo
	@bash scripts/collection-path.sh >/dev/null

lock: $(STAMP) ## re-resolve requirements/test.txt into requirements/constraints.txt
	bash scripts/lock.sh

# --- checks --------------------------------------------------------------

lint: $(STAMP) collection-path ## ruff check + ruff format --check + ansible-lint (production profile)
	ruff check $(LINT_PATHS)
	ruff format --check --diff $(LINT_PATHS)
	ansible-lint

format: $(STAMP) ## apply ruff's fixes and formatting
	ruff check --fix $(LINT_PATHS)
	ruff format $(LINT_PATHS)

sanity: $(STAMP) ## ansible-test sanity --venv on a copy in .build/sanity (offline)
	bash scripts/sanity.sh $(SANITY_ARGS)

changelog-lint: $(STAMP) ## antsibull-changelog lint (fragments and changelog.yaml)
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

unit: $(STAMP) collection-path ## pytest tests/unit (no root needed)
	$(PYTEST_ENV) python -m pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP) collection-path ## pytest tests/integration (root: network namespaces, veth, macvlan)
	@if [[ $$(id -u) -ne 0 ]]; then echo "integration: needs root (network namespaces, links)" >&2; exit 1; fi
	$(PYTEST_ENV) HOSTNET_FAIL_ON_SKIP=1 python -m pytest tests/integration -n $(INTEGRATION_WORKERS) -k "not ansible_runner" $(PYTEST_ARGS)

# Each step in order, stopping at the first failure; prints how long each took.
TEST_STEPS := lint sanity changelog-lint unit matrix-quick integration units-ansible-test docs ee-check galaxy-import runner-test molecule
test: $(STAMP) ## every step of TEST_STEPS: lint, sanity, changelog-lint, unit, integration, docs, ... (stops at the first failure)
	@for step in $(TEST_STEPS); do \
		echo "=== make $$step"; \
		start=$$(date +%s); \
		if ! $(MAKE) --no-print-directory $$step; then \
			echo "=== make $$step FAILED after $$(( $$(date +%s) - start ))s" >&2; exit 1; \
		fi; \
		echo "=== make $$step passed in $$(( $$(date +%s) - start ))s"; \
	done

# --- use -----------------------------------------------------------------

demo: $(STAMP) collection-path ## run scripts/demo.sh (needs root)
	bash scripts/demo.sh

# Built from a copy holding only the files git sees, so local caches and
# untracked-but-ignored files never end up in the artifact.
BUILD_SRC := $(BUILD)/src/ansible_collections/hostnet/macvlan
build: $(STAMP) ## ansible-galaxy collection build into .build/ (from the files git sees)
	python scripts/sync-tree.py $(BUILD_SRC)
	ansible-galaxy collection build --force --output-path $(BUILD) $(BUILD_SRC)

# --- benchmarks ----------------------------------------------------------

# Extra arguments: make bench BENCH_ARGS='--quick'; BENCH_ARGS='--series state,floor --sizes 1,16'
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench.stamp
$(BENCH_STAMP): requirements/bench.txt $(STAMP)
	python -m pip install --disable-pip-version-check --no-input -q -r requirements/bench.txt \
		-c requirements/constraints.txt
	@touch $@

.PHONY: bench
bench: $(STAMP) $(BENCH_STAMP) collection-path ## benchmarks (root, ~1 h): ip -batch vs loops vs macvlan_state vs role -> benchmarks/results/
	@if [[ $$(id -u) -ne 0 ]]; then echo "bench: needs root (network namespaces, veth, macvlan)" >&2; exit 1; fi
	python benchmarks/bench.py $(BENCH_ARGS)

# --- molecule ------------------------------------------------------------

# Scenarios in privileged podman containers (extensions/molecule, docs/molecule.md).  scripts/molecule.sh
# installs what it needs (podman, runc, mmdebstrap, .venv-molecule, containers.podman) and builds or reuses
# the images first.  make molecule SCENARIO=modes (or make molecule-modes) runs one scenario;
# MOLECULE_JOBS scenarios run at the same time (default 2).
SCENARIO ?=
.PHONY: molecule images
molecule: ## molecule scenarios in podman (root; all in parallel, or SCENARIO=name; make molecule-<name>)
	bash scripts/molecule.sh $(SCENARIO)

molecule-%:
	bash scripts/molecule.sh $*

images: ## build (or reuse) the molecule images from Debian packages (root; mmdebstrap, podman)
	bash scripts/molecule-setup.sh
	bash scripts/images.sh

# --- docs, packaging, AWX -------------------------------------------------

# antsibull-docs, sphinx, galaxy-importer, ansible-builder and ansible-runner (requirements/docs.txt, all
# pinned) live in their own virtualenv, .build/venv-docs: the lint and test tool chain in .venv does not grow.
DOCS_VENV := $(BUILD)/venv-docs
DOCS_STAMP := $(DOCS_VENV)/.docs.stamp
export DOCS_VENV
$(DOCS_STAMP): requirements/docs.txt $(STAMP)
	@[[ -x $(DOCS_VENV)/bin/python ]] || $(VENV)/bin/python -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --disable-pip-version-check --no-input -q -r requirements/docs.txt \
		2> >(grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory.$$" >&2)
	@touch $@

.PHONY: docs ee-check galaxy-import runner-test units-ansible-test
docs: $(STAMP) $(DOCS_STAMP) collection-path ## ansible-doc of every module/role/playbook, antsibull-docs lint, site -> .build/docs/build/html
	bash scripts/docs.sh

ee-check: build $(DOCS_STAMP) ## ansible-builder create + introspect of meta/execution-environment.yml into .build/ee (no image)
	bash scripts/ee-check.sh

galaxy-import: build $(DOCS_STAMP) ## galaxy-importer on the built tarball, offline; fails on any warning
	bash scripts/galaxy-import.sh

runner-test: $(STAMP) $(DOCS_STAMP) collection-path ## hostnet.macvlan.rollout under ansible-runner, artifacts checked (root)
	@if [[ $$(id -u) -ne 0 ]]; then echo "runner-test: needs root (network namespaces, veth, macvlan)" >&2; exit 1; fi
	$(PYTEST_ENV) HOSTNET_FAIL_ON_SKIP=1 python -m pytest tests/integration/test_rollout.py -k ansible_runner $(PYTEST_ARGS)

units-ansible-test: $(STAMP) ## ansible-test units --venv on each Python 3.9-3.13 present (absent ones skipped)
	bash scripts/units.sh

# The support matrix (docs/support.md, scripts/matrix.sh): controllers ansible-core 2.16-2.21, managed-node
# Pythons 3.6-3.13, pyroute2 0.5.14/0.7.x/0.8.x/0.9.x. Root (the smoke tests create namespaces and links).
.PHONY: test-matrix matrix-quick
test-matrix: $(STAMP) collection-path ## the whole support matrix (root; long, see docs/support.md)
	bash scripts/matrix.sh full

matrix-quick: $(STAMP) collection-path ## the matrix's oldest corner: ansible-core 2.16, Python 3.6, pyroute2 0.5.14 (root)
	bash scripts/matrix.sh quick

# --- cleanup -------------------------------------------------------------

clean: ## remove .build and tests/output (keeps .venv)
	rm -rf $(BUILD) tests/output

distclean: clean ## clean, and remove .venv
	rm -rf $(VENV)
