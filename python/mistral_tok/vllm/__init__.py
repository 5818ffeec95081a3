"""mistral-tok inside vLLM: Mistral chat templating, byte-identical, fast, off the event loop.

Installed automatically by the ``vllm.general_plugins`` entry point ``mistral_tok`` (see
:mod:`mistral_tok.vllm.plugin`; ``MISTRAL_TOK_VLLM=0`` disables it, ``=shadow`` only compares), or
by hand::

    import mistral_tok.vllm
    print(mistral_tok.vllm.patch())      # what was replaced for the installed vLLM
    mistral_tok.vllm.unpatch()           # everything restored

Importing this module does not import vLLM.
"""

from mistral_tok.vllm.patching import PatchReport, is_patched, patch, report, unpatch
from mistral_tok.vllm.shims import reset_stats, stats

__all__ = ["PatchReport", "is_patched", "patch", "report", "reset_stats", "stats", "unpatch"]
