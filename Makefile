# The two commands of the README:  `make demo` (set up + main job)  and  `make test` (all tests).
# Everything is installed into ./.venv so that a fresh clone on a fresh machine needs only
# python3 (>= 3.9) and a Rust toolchain.

VENV ?= .venv
PY := $(VENV)/bin/python
MATURIN := VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin
CARGO_PY_ENV := PYO3_PYTHON=$(abspath $(PY))

.PHONY: demo test test-rust test-python test-vllm test-vllm-all lint develop bench bench-python clean

$(VENV)/bin/maturin:
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.8,<2"

# Release build: the tests and the demo exercise the code users get.
develop: $(VENV)/bin/maturin
	$(MATURIN) develop --release --extras test

demo: develop
	$(VENV)/bin/mistral-tok demo

lint: develop
	cargo fmt --check
	$(CARGO_PY_ENV) cargo clippy --all-targets --features python -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(PY) -m mypy.stubtest mistral_tok._native

test-rust:
	cargo test

test-python: develop
	$(PY) -m pytest

test: lint test-rust test-python

# Tests against a real vLLM (tests/vllm_integration/), in a cached venv per version built by
# scripts/vllm_env.sh (~9 GB each, outside the repo). `make test` skips them (no vLLM in .venv).
VLLM ?= 0.33.0
VLLM_VERSIONS ?= 0.33.0 0.14.1 0.11.0

test-vllm:
	@venv=$$(scripts/vllm_env.sh $(VLLM) | tail -n 1) && \
	HF_HUB_OFFLINE=1 $$venv/bin/python -m pytest -p no:cacheprovider tests/vllm_integration -rs

test-vllm-all:
	@for v in $(VLLM_VERSIONS); do echo "== vLLM $$v"; $(MAKE) --no-print-directory test-vllm VLLM=$$v || exit 1; done

bench: develop
	cargo bench
	$(MAKE) bench-python

bench-python: develop
	@for script in benches/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) target
