# The README's two commands: `make demo` (the main job on the embedded default) and
# `make test` (set up everything, start the real test stack, pass the tests).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint stack-up stack-down bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev,embedded]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/chimera demo

stack-up: setup
	bash infra/stack.sh up

stack-down:
	bash infra/stack.sh down

# the stack is left as it was found: started here -> stopped here
test: setup
	@started=0; bash infra/stack.sh status >/dev/null 2>&1 || { bash infra/stack.sh up && started=1; }; \
	$(BIN)/pytest -q --timeout 600 $(PYTEST_ARGS); rc=$$?; \
	[ $$started = 1 ] && bash infra/stack.sh down; exit $$rc

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	bash infra/stack.sh down || true
	rm -rf .chimera .chimera-ci
