# The two commands of the README:  `make demo` (set up + main job)  and  `make test` (all tests).
# Everything is installed into ./.venv so that a fresh clone on a fresh machine needs only
# python3 (>= 3.10) and a Rust toolchain.

VENV ?= .venv
PY := $(VENV)/bin/python
CARGO_PY_ENV := PYO3_PYTHON=$(abspath $(PY))

.PHONY: demo test test-timing test-rust test-python test-wheel test-parity-long test-vllm test-vllm-all test-mistral-common-suite lint develop bench bench-python clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# An editable install with the `dev` extra (tests, benchmarks, lint, maturin, abi3audit). maturin's
# PEP 517 build is a release build: the tests and the demo exercise the code users get.
develop: $(PY)
	$(PY) -m pip install --quiet --editable '.[dev]'

demo: develop
	$(VENV)/bin/mistral-tok demo

lint: develop
	cargo fmt --all --check
	$(CARGO_PY_ENV) cargo clippy --workspace --all-targets --features mistral-tok/python -- -D warnings
	$(VENV)/bin/ruff check python tests benches scripts
	$(VENV)/bin/ruff format --check python tests benches scripts
	$(PY) -m mypy.stubtest mistral_tok._native

# Where the Rust tests and benches find mistral_common's shipped tokenizer files and CPython's
# stdlib (the benches' prose): the venv's, unless already set. Without a venv the golden tests skip.
VENV_DATA := MISTRAL_COMMON_DATA="$${MISTRAL_COMMON_DATA:-$$($(PY) -c 'import mistral_common, pathlib; print(pathlib.Path(mistral_common.__file__).parent / "data")' 2>/dev/null)}" \
	PYTHON_STDLIB="$${PYTHON_STDLIB:-$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])' 2>/dev/null)}"

# Every crate of the workspace (README: Layout); the binding's own tests need no Python.
test-rust:
	$(VENV_DATA) cargo test --workspace

test-python: develop
	$(PY) -m pytest

# The abi3 wheel: tagged cp310-abi3, audited, and giving the same results on CPython 3.10 and 3.13.
test-wheel: develop
	scripts/check_wheel.sh $(VENV)

test: lint test-rust test-python test-wheel

# Wall-clock latencies (event-loop lag, /health answers) that `make test` does not assert: they
# hold on a quiet machine, and on a shared, loaded one they measure the scheduler.
test-timing: develop
	MISTRAL_TOK_TIMING=1 $(PY) -m pytest tests/timing -rs

# The differential chat test with 100x the requests of a CI run (about 100x its time, hours).
test-parity-long: develop
	MISTRAL_TOK_PARITY_SCALE=100 MISTRAL_TOK_PARITY_SEED=$${MISTRAL_TOK_PARITY_SEED:-random} \
		$(PY) -m pytest -s tests/test_chat_parity.py

# mistral_common's own test suite (from its sdist, downloaded once into target/), run unpatched
# and through `mistral-tok run`: every test must end the same way (~1 min on two idle cores).
test-mistral-common-suite: develop
	$(PY) scripts/mistral_common_suite.py

# Tests against a real vLLM (tests/vllm_integration/), in a cached venv per version built by
# scripts/vllm_env.sh (~7-9 GB each, outside the repo). `make test` skips them (no vLLM in .venv).
# test-vllm-all runs every version the profiles registry lists as verified, one at a time:
# install, test, then delete the venv unless the version is in VLLM_KEEP (the disk holds two).
VLLM ?= 0.34.0
VLLM_KEEP ?= 0.34.0 0.33.0
VLLM_CACHE ?= $(or $(MISTRAL_TOK_VLLM_CACHE),$(HOME)/.cache/mistral-tok)

test-vllm:
	@venv=$$(scripts/vllm_env.sh $(VLLM) | tail -n 1) && \
	HF_HUB_OFFLINE=1 $$venv/bin/python -m pytest -p no:cacheprovider tests/vllm_integration -rs

test-vllm-all: develop
	@versions="$${VLLM_VERSIONS:-$$($(PY) -m mistral_tok.vllm.profiles versions)}"; \
	for v in $$versions; do \
		echo "== vLLM $$v"; \
		$(MAKE) --no-print-directory test-vllm VLLM=$$v; status=$$?; \
		case " $(VLLM_KEEP) " in *" $$v "*) ;; *) rm -rf "$(VLLM_CACHE)/vllm-$$v" "$(VLLM_CACHE)/vllm-$$v-src";; esac; \
		[ $$status -eq 0 ] || exit $$status; \
	done

bench: develop
	$(VENV_DATA) cargo bench --workspace
	$(MAKE) bench-python

bench-python: develop
	@for script in benches/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) target
