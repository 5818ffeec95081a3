"""The integration layers ``mistral_tok.patch()`` installs besides vLLM's: one module per host
library, each with ``MODULE`` (the host module whose import triggers the patch), ``layer`` (its
shared :class:`mistral_tok._integration.Layer`), ``patch_module(module)`` and
``unpatch_module(module)``. Importing this package imports no host library."""
