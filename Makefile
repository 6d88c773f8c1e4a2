# Two commands do all set-up on a fresh machine (each creates .venv on first use):
#   make demo   # the whole workflow on the embedded model, offline
#   make test   # the test suite
# .venv is installed with torch (its dependencies at the lock's pins), then requirements/lock.txt
# (every package pinned; `make lock` regenerates it), then interpflow itself. TORCH selects the torch build: the default is the CPU build CI
# uses; on a GPU box use e.g. `make demo TORCH=torch==2.13.0` from an index with the CUDA build.

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CORES ?= 2
# pytest-xdist workers for `make test`; --dist loadfile keeps each test file (and its module fixtures) on one worker.
TEST_WORKERS ?= 2
BIN := $(VENV)/bin
LOCK := requirements/lock.txt

.PHONY: demo demo-families reproduce cluster-demo test lint lock clean

# torch first, its dependencies at the lock's pins: the lock's test tools (TransformerLens,
# accelerate) need torch, and pip would otherwise fetch the default (CUDA) build for them.
$(VENV)/.installed: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)" --constraint $(LOCK)
	$(BIN)/python -m pip install --quiet --requirement $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	$(BIN)/python -m pip check
	touch $@

# Regenerate the lock from pyproject.toml's dependencies and extras (pip-tools), torch and interpflow itself excluded.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --extra test \
		--constraint requirements/torch-cpu.txt --unsafe-package torch --unsafe-package interpflow \
		--output-file $(LOCK) pyproject.toml
	$(BIN)/python tools/pin_envs.py

demo: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --configfile overlays/embedded.yaml

# The demo's instances (overlays/families.yaml names them) on a tiny random model of every supported family (GPT-2, Pythia, Llama, Gemma 2).
demo-families: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --configfile overlays/embedded.yaml overlays/families.yaml

reproduce: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES)

# The embedded workflow through profiles/slurm on a single-node SLURM cluster of this machine
# (tools/single_node_slurm.sh installs and starts it; root and apt-get, or slurm already installed).
cluster-demo: $(VENV)/.installed
	tools/single_node_slurm.sh start
	$(BIN)/snakemake --profile profiles/slurm --slurm-no-account --slurm-status-command squeue \
		--configfile overlays/embedded.yaml

test: $(VENV)/.installed
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint --configfile overlays/embedded.yaml
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check src scripts tests tools benchmarks
	$(BIN)/ruff format --check src scripts tests tools benchmarks

clean:
	rm -rf results logs .snakemake
