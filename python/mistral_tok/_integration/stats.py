"""Counters of one layer: calls served natively, fallbacks by reason (each reason logged once),
shadow comparisons, and which path each tokenizer took and why."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any


class Stats:
    def __init__(
        self, logger: logging.Logger, original_name: str, keys: tuple[str, ...] = ()
    ) -> None:
        self.logger = logger
        # Counters always present in a snapshot (0 until counted).
        self.keys = ("native", "fallback", "shadow_compared", "shadow_differences", *keys)
        # How log lines name the function a fallback serves the call with ("vLLM's own ...").
        self.original_name = original_name
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.fallback_reasons: Counter[str] = Counter()
        self.logged: set[str] = set()
        self.tokenizers: dict[str, dict[str, str]] = {}

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n

    def fallback(self, reason: str) -> None:
        """One call served by the original because of ``reason``."""
        with self.lock:
            self.counts["fallback"] += 1
            self.fallback_reasons[reason] += 1
        self.log_once(logging.INFO, f"falling back to {self.original_name} for: {reason}")

    def log_once(self, level: int, message: str) -> None:
        with self.lock:
            if message in self.logged:
                return
            self.logged.add(message)
        self.logger.log(level, "mistral-tok: %s", message)

    def tokenizer_path(self, label: str, path: str, why: str) -> None:
        """Which path calls with the tokenizer ``label`` take (``native``, ``original``,
        ``verifying``) and why."""
        with self.lock:
            self.tokenizers[label] = {"path": path, "why": why}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            snapshot: dict[str, Any] = {key: self.counts[key] for key in self.keys}
            snapshot.update(self.counts)
            snapshot["fallback_reasons"] = dict(self.fallback_reasons)
            snapshot["tokenizers"] = {k: dict(v) for k, v in self.tokenizers.items()}
            return snapshot

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.fallback_reasons.clear()
            self.logged.clear()
            self.tokenizers.clear()
