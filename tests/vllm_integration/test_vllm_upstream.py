"""vLLM's own no-network tests for the template path, run with the patch installed.

The test files come from the vLLM sdist that ``scripts/vllm_env.sh`` extracts next to the cached
venv (``$MISTRAL_TOK_VLLM_SRC`` overrides); they are copied to a temporary folder with a conftest
that installs the patch first, then run by pytest in a subprocess of this interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vLLM is not importable here; run `make test-vllm VLLM=0.33.0`")

from vllm_support import vllm_version  # noqa: E402

# version -> [(file inside the sdist's tests/, pytest -k expression, expected passes)]
UPSTREAM = {
    "0.34.0": [
        (
            "renderers/test_mistral.py",
            "test_async_mistral_tokenizer_does_not_block_event_loop"
            " or test_renderer_passes_response_format_to_tokenizer",
            3,
        ),
        (
            "tokenizers_/test_mistral.py",
            "test_validate_apply_chat_template_args or test_validate_request_params",
            10,
        ),
    ],
    "0.33.0": [
        ("renderers/test_mistral.py", "test_async_mistral_tokenizer_does_not_block_event_loop", 1),
    ],
    "0.14.1": [
        (
            "entrypoints/openai/test_serving_engine.py",
            "test_async_mistral_tokenizer_does_not_block_event_loop",
            1,
        ),
    ],
    "0.11.0": [
        ("tokenization/test_mistral_tokenizer.py", "test_make_mistral_chat_completion_request", 3),
    ],
}

CONFTEST = """
import mistral_tok.vllm as mv

REPORT = mv.patch()
assert REPORT.active, str(REPORT)


def pytest_report_header(config):
    return str(REPORT)


def pytest_sessionfinish(session, exitstatus):
    print("\\nmistral-tok stats:", mv.stats())
"""


def _src() -> Path:
    default = Path.home() / ".cache" / "mistral-tok" / f"vllm-{vllm_version()}-src"
    return Path(os.environ.get("MISTRAL_TOK_VLLM_SRC", default))


@pytest.mark.parametrize("rel, select, expected", UPSTREAM.get(vllm_version(), []))
def test_vllm_own_tests_pass_with_patch(tmp_path, rel, select, expected):
    source = _src() / "tests" / rel
    if not source.is_file():
        pytest.skip(f"{source} missing; `scripts/vllm_env.sh {vllm_version()}` extracts it")
    shutil.copy(source, tmp_path / Path(rel).name)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-s",
            "-k",
            select,
            str(tmp_path / Path(rel).name),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    print(out[-3000:])
    assert proc.returncode == 0, out[-3000:]
    assert f"{expected} passed" in out
    # The shim was in the path (vLLM's tests use a Mock tokenizer: served by vLLM's function,
    # offloaded as vLLM does).
    assert "mistral-tok stats:" in out
    if "Mock(spec=MistralTokenizer)" in source.read_text():
        assert "'tokenizer is not a vLLM MistralTokenizer'" in out
