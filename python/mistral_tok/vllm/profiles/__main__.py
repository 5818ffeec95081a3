"""``python -m mistral_tok.vllm.profiles versions|table``: the verified vLLM versions (one a
line, for the Makefile) or the README table."""

import sys

from mistral_tok.vllm.profiles import readme_table, verified_vllm_versions

if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "versions"
    print(" ".join(verified_vllm_versions()) if what == "versions" else readme_table())
