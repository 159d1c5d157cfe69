# govmall — two commands do all set-up on a fresh machine:
#   make run    the mall on the embedded default (SQLite, eager tasks, embedded search) with demo data
#   make test   the whole test suite (SQLite; PostgreSQL/Redis suites run from .ci/run)
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
PRODUCTS ?= 5000
PYTEST_ARGS ?=

.PHONY: run test install translations system-deps clean-db bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed translations

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -q -d mall/translations 2>/dev/null || $(BIN)/pybabel compile -d mall/translations

system-deps:
	bash scripts/system-deps.sh

run: install
	$(BIN)/flask --app mall setup --products $(PRODUCTS)
	@echo "govmall: http://127.0.0.1:$(PORT)  (demo sign-ins: see README)"
	$(BIN)/gunicorn --preload -w 2 -b 127.0.0.1:$(PORT) --access-logfile - 'mall:create_app()'

test: install system-deps
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench.run_all

clean-db:
	rm -f instance/govmall.sqlite3*
