# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LAB := $(VENV)/bin/lab
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[tensorflow,test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(LAB) watch scenarios/maze_dqn_small.yaml

# pytest exits 5 when no test ran: that is a failure here. TEST_WORKERS pytest processes (pytest-xdist),
# each test file in one of them: half the suite's time is spent starting subprocesses and waiting for
# them, which a second process fills (measured: 594 s in one process, 378 s in two, on 2 cores).
TEST_WORKERS ?= 2
test: $(STAMP)
	@SDL_VIDEODRIVER=dummy MPLBACKEND=Agg $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean-venv:
	rm -rf $(VENV)
