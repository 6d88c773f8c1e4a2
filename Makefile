# Two commands do all set-up on a fresh machine (each creates .venv on first use):
#   make demo   # the whole workflow on the embedded model, offline
#   make test   # the test suite
# TORCH selects the torch build: the default is the CPU-friendly pin CI uses; on a GPU box use
# e.g. `make demo TORCH=torch` (or install the CUDA build you need into .venv first).

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CORES ?= 2
BIN := $(VENV)/bin

.PHONY: demo reproduce cluster-demo test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES) --configfile overlays/embedded.yaml

reproduce: $(VENV)/.installed
	$(BIN)/snakemake --cores $(CORES)

# The embedded workflow through profiles/slurm on a single-node SLURM cluster of this machine
# (tools/single_node_slurm.sh installs and starts it; root and apt-get, or slurm already installed).
cluster-demo: $(VENV)/.installed
	tools/single_node_slurm.sh start
	$(BIN)/snakemake --profile profiles/slurm --slurm-no-account --slurm-status-command squeue \
		--configfile overlays/embedded.yaml

test: $(VENV)/.installed
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/snakemake --lint --configfile overlays/embedded.yaml
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/ruff check src scripts tests tools benchmarks
	$(BIN)/ruff format --check src scripts tests tools benchmarks

clean:
	rm -rf results logs .snakemake
