#!/usr/bin/env bash
# Build the abi3 wheel users install, audit it, and run it on the oldest and newest CPython found.
#
#   scripts/check_wheel.sh [VENV]     # VENV: the development venv (default .venv), holding maturin,
#                                     # abi3audit, mistral_common and an editable mistral-tok
#
# 1. `maturin build --release` (reuses the artifacts of `maturin develop --release`);
# 2. the wheel must be tagged cp310-abi3, and abi3audit must find no symbol outside the 3.10 limited
#    API (and the source looks no symbol up with `dlsym`);
# 3. for each interpreter in $MISTRAL_TOK_WHEEL_PYTHONS (default: python3.10 and python3.13, from
#    PATH or pyenv, whichever exist), a throwaway venv gets the wheel (no index, no deps) and
#    scripts/wheel_smoke.py must print exactly what it prints under the development build.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv}"
py="$venv/bin/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

maturin="$venv/bin/maturin"
[[ -x "$maturin" ]] || maturin=maturin
VIRTUAL_ENV="$(cd "$venv" && pwd)" "$maturin" build --release --quiet --out "$work/dist"
wheel="$(ls "$work"/dist/*.whl)"
case "$(basename "$wheel")" in
    *-cp310-abi3-*.whl) echo "wheel: $(basename "$wheel")" ;;
    *) echo "check_wheel: expected a cp310-abi3 wheel, got $(basename "$wheel")" >&2; exit 1 ;;
esac
"$py" -m abi3audit --strict --summary "$wheel"
# The C API is linked, never looked up at run time (Rust's std itself imports dlsym).
if grep -rnw dlsym src crates; then echo "check_wheel: the source calls dlsym" >&2; exit 1; fi

data="$("$py" -c 'import mistral_common, pathlib; print(pathlib.Path(mistral_common.__file__).parent / "data")')"
files=("$data/tekken_240911.json" "$data/mistral_instruct_tokenizer_240323.model.v3"
       "$data/tokenizer.model.v1" "$data/mistral_instruct_tokenizer_241114.model.v7m1")
"$py" scripts/wheel_smoke.py "${files[@]}" > "$work/expected.json"

find_python() {
    # pyenv's shims answer `command -v` for versions that are not active: try each candidate.
    local name="$1" v="${1#python}" cand
    for cand in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"$name" 2>/dev/null | sort -V -r) \
                $(command -v "$name" 2>/dev/null); do
        if "$cand" -c 'import venv' >/dev/null 2>&1; then echo "$cand"; return; fi
    done
}

ran=0
for name in ${MISTRAL_TOK_WHEEL_PYTHONS:-python3.10 python3.13}; do
    interp="$(find_python "$name" || true)"
    if [[ -z "$interp" ]]; then
        echo "check_wheel: $name not found, not tried"
        continue
    fi
    "$interp" -m venv "$work/$name"
    "$work/$name/bin/python" -m pip install --quiet --no-index --no-deps "$wheel"
    (cd "$work" && "$work/$name/bin/python" "$OLDPWD/scripts/wheel_smoke.py" "${files[@]}") > "$work/$name.json"
    if ! cmp -s "$work/expected.json" "$work/$name.json"; then
        echo "check_wheel: the wheel on $("$interp" -V) differs from the development build" >&2
        diff <(tr ',' '\n' < "$work/expected.json") <(tr ',' '\n' < "$work/$name.json") | head -20 >&2
        exit 1
    fi
    echo "wheel on $("$interp" -V 2>&1): same results as the development build"
    ran=$((ran + 1))
done
echo "check_wheel: ok ($ran interpreter(s))"
