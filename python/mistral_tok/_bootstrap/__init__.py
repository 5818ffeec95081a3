"""The folder ``mistral-tok run`` puts first on ``PYTHONPATH``: its ``sitecustomize`` applies
``mistral_tok.patch()`` in every Python process the command starts."""

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
