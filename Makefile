# Two commands on a fresh machine: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
LAB := $(VENV)/bin/lab
STAMP := $(VENV)/.installed

JAX_VENV ?= .venv-jax
JAX_STAMP := $(JAX_VENV)/.installed

.PHONY: demo test test-jax gpu-wheels lint bench clean-venv

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

# The suite without TensorFlow installed: Keras on JAX from the `jax` extra (a stray TensorFlow import fails),
# the tests that need TensorFlow itself (marker `tensorflow`) left out.
$(JAX_STAMP): pyproject.toml
	@test -x $(JAX_VENV)/bin/python || $(PYTHON) -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(JAX_VENV)/bin/python -m pip install --quiet -e '.[jax,test]'
	@! $(JAX_VENV)/bin/python -c "import tensorflow" 2>/dev/null || { echo "error: TensorFlow is installed in $(JAX_VENV)"; exit 1; }
	@touch $(JAX_STAMP)

test-jax: $(JAX_STAMP)
	@env -u KERAS_BACKEND SDL_VIDEODRIVER=dummy MPLBACKEND=Agg $(JAX_VENV)/bin/python -m pytest -q -n $(TEST_WORKERS) \
	  --dist loadfile -m "not tensorflow" -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; exit 1; fi; exit $$rc

# The folder of wheels benchmarks/gpu_check.sh installs offline on a JAX GPU machine (README, Keras on JAX)
GPU_PYTHON ?= 3.12
gpu-wheels: $(STAMP)
	$(PY) benchmarks/gpu_wheels.py --out dist/gpu-wheels --python $(GPU_PYTHON)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean-venv:
	rm -rf $(VENV) $(JAX_VENV)
