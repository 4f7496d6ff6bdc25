# The two commands of the README:
#   make demo   install into .venv, then run the whole pipeline on specs/ against the simulated GPU host
#   make test   install the test dependencies, then run the whole test suite
VENV ?= .venv
PYTHON ?= python3
# CPU build of PyTorch (KeyBERT's sentence-transformers needs torch; plain `pip install` would
# pull a multi-GB CUDA build). Elsewhere: TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
CORES ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format system-deps clean

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	@$(BIN)/cosmos list runs --limit 20
	@echo "report: results/report.html (rewrite and open it: $(BIN)/cosmos report --open)"

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/snakefmt Snakefile rules/

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test,slurm]'
	touch $(STAMP)

# OpenSSH server (tests start their own on 127.0.0.1), Debian's ffmpeg (ffprobe checks), chromium (report page).
system-deps:
	@.ci/system-deps.sh

clean:
	rm -rf work results logs benchmarks cosmos.db cosmos.db-wal cosmos.db-shm .snakemake
