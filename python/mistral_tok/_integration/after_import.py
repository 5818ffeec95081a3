"""A post-import hook: run a callback with a module right after the import system has executed
it. Hosts are patched when the program imports them, never imported by mistral-tok (importing
transformers or vLLM's speech-to-text serving costs a process that never uses them ~1 s)."""

from __future__ import annotations

import importlib.abc
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any


class AfterImport(importlib.abc.MetaPathFinder):
    """``watch(name, then)``: ``then(module)`` runs once the module ``name`` is executed, if it is
    still watched then. The spec comes from the finders after this one; only that spec's own
    loader instance is wrapped."""

    def __init__(self) -> None:
        self.watched: dict[str, Callable[[ModuleType], None]] = {}
        self._busy = threading.local()

    def watch(self, name: str, then: Callable[[ModuleType], None]) -> None:
        self.watched[name] = then
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def stop(self) -> None:
        """Forget every watched module and leave ``sys.meta_path``."""
        self.watched.clear()
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.watched or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.on = False
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_then(module: ModuleType) -> None:
            exec_module(module)
            then = self.watched.get(fullname)
            if then is not None:
                then(module)

        loader.exec_module = exec_then
        return spec
