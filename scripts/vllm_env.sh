#!/usr/bin/env bash
# Create (or reuse) a cached virtualenv holding one vLLM release plus our test deps, then
# install mistral-tok from this checkout into it.
#
#   scripts/vllm_env.sh VERSION            # e.g. 0.33.0, 0.14.1, 0.11.0
#   scripts/vllm_env.sh VERSION --no-develop   # only make sure vLLM is installed
#
# The venv lives OUTSIDE the repository (it is ~9 GB: vLLM pulls CUDA torch wheels even
# though the tests run on CPU) in ${MISTRAL_TOK_VLLM_CACHE:-$HOME/.cache/mistral-tok}/vllm-VERSION.
# A marker file records a finished install, so re-running is cheap and an interrupted
# install is resumed by pip instead of being trusted. Prints the venv path on its last line.
set -euo pipefail

version="${1:?usage: scripts/vllm_env.sh VERSION [--no-develop]}"
develop=1
[[ "${2:-}" == "--no-develop" ]] && develop=0

cache="${MISTRAL_TOK_VLLM_CACHE:-$HOME/.cache/mistral-tok}"
venv="$cache/vllm-$version"
marker="$venv/.mistral-tok-vllm-installed"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"

mkdir -p "$cache"
if [[ ! -f "$marker" ]]; then
    # Keep >= 15 GB free after the install: a vLLM venv is ~9 GB.
    avail_kb=$(df -Pk "$cache" | awk 'NR==2 {print $4}')
    if (( avail_kb < 24 * 1024 * 1024 )); then
        echo "vllm_env.sh: less than 24 GB free under $cache; refusing to install vLLM $version" >&2
        exit 1
    fi
    [[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # vLLM itself without its dependencies, then its requirements minus the GPU-only kernel
    # packages: some releases pin builds this index does not carry (0.34.0: flashinfer-python
    # 0.7.3), and the renderer path the tests use imports none of them.
    "$venv/bin/python" -m pip install --no-cache-dir --no-deps "vllm==$version"
    "$venv/bin/python" - >"$venv/.vllm-requirements.txt" <<'PY'
import re
from importlib.metadata import requires

try:
    from packaging.requirements import Requirement
except ImportError:  # a fresh venv: only pip's vendored copy
    from pip._vendor.packaging.requirements import Requirement

# GPU kernels and CUDA-only helpers: never imported on the CPU renderer path the tests take.
gpu_only = {
    "flashinfer-python", "flashinfer-cubin", "apache-tvm-ffi", "tilelang", "nvidia-cudnn-frontend",
    "nvtx", "fastsafetensors", "instanttensor", "nvidia-cutlass-dsl", "quack-kernels",
    "tokenspeed-mla", "humming-kernels", "pynvvideocodec", "deep-gemm", "xformers",
}
for line in requires("vllm") or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    name = re.sub(r"[-_.]+", "-", req.name).lower()
    if name in gpu_only or name == "mistral-common":
        continue
    print(str(req).split(";")[0])
PY
    # mistral_common is pinned to the version mistral-tok is byte-identical to; the tests
    # compare vLLM's own function (running on that mistral_common) with ours.
    # vLLM's `audio` extra (av, scipy, soundfile, soxr, mistral_common[audio]) for the
    # transcription tests; soundfile and soxr at the versions mistral-tok's audio answers were
    # checked against (README, Audio).
    "$venv/bin/python" -m pip install --no-cache-dir \
        -r "$venv/.vllm-requirements.txt" \
        "mistral-common[sentencepiece,image,audio]==1.13.1" \
        av scipy "soundfile==0.14.0" "soxr==1.1.0" \
        "pytest>=8" "pytest-asyncio" "hypothesis>=6" "maturin>=1.8,<2" "httpx"
    "$venv/bin/python" -c "import vllm, sys; print('vllm', vllm.__version__, 'on', sys.version.split()[0])"
    touch "$marker"
elif ! "$venv/bin/python" -c "import av, scipy, soundfile, soxr" 2>/dev/null; then
    # A venv cached before the audio extra was added to the list above.
    "$venv/bin/python" -m pip install --quiet --no-cache-dir \
        av scipy "soundfile==0.14.0" "soxr==1.1.0"
fi

# vLLM's own tests (the wheel has none): the tests/ tree of the PyPI sdist, extracted once next to
# the venv. vLLM code is never copied into this repository.
src="$cache/vllm-$version-src"
if [[ ! -d "$src/tests" ]]; then
    tmp="$(mktemp -d)"
    # The sdist from the index pip uses (its JSON simple API); pip itself would try to build it.
    "$venv/bin/python" - "$version" "$tmp/vllm.tar.gz" <<'PY'
import json
import sys
import urllib.request

from pip._internal.models.index import PyPI

version, dest = sys.argv[1:]
request = urllib.request.Request(
    PyPI.simple_url.rstrip("/") + "/vllm/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
)
with urllib.request.urlopen(request, timeout=120) as answer:
    files = json.load(answer)["files"]
url = next(f["url"] for f in files if f["filename"] == f"vllm-{version}.tar.gz")
urllib.request.urlretrieve(url, dest)
PY
    mkdir -p "$src"
    tar xzf "$tmp/vllm.tar.gz" -C "$src" --strip-components=1 "vllm-$version/tests"
    rm -rf "$tmp"
fi

if (( develop )); then
    # Release, like `make develop`: maturin develop writes the extension into python/mistral_tok/,
    # which the checkout's own .venv imports too, so a debug build here would replace its build.
    (cd "$repo" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" \
        "$venv/bin/maturin" develop --quiet ${MATURIN_FLAGS:---release})
fi
echo "$venv"
