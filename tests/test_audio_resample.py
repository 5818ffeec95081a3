"""The output length of ``soxr.resample(x, a, b, quality="HQ")`` (what mistral_common's token
count depends on) against python-soxr, on many lengths and rate pairs."""

from __future__ import annotations

import random

import numpy as np
import pytest

soxr = pytest.importorskip("soxr")

from mistral_tok import _native  # noqa: E402

RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 96000, 7999, 16001]


def test_resampled_length_is_soxrs() -> None:
    rng = random.Random(7)
    cases = [(n, a, b) for n in range(0, 40) for a, b in [(44100, 16000), (8000, 16000)]]
    for _ in range(1500):
        a, b = rng.choice(RATES), rng.choice([16000, 24000, 8000, 22050, 44100])
        n = rng.choice([rng.randrange(0, 50), rng.randrange(0, 5000), rng.randrange(0, 400_000)])
        cases.append((n, a, b))
    for _ in range(200):
        cases.append((rng.randrange(0, 100_000), rng.randrange(1000, 200_000), 16000))
    bad = []
    for n, a, b in cases:
        if a == b:
            continue
        want = len(soxr.resample(np.zeros(n, dtype=np.float32), a, b, quality="HQ"))
        got = _native._resampled_len(n, a, b)
        if got != want:
            bad.append((n, a, b, want, got))
    assert not bad, bad[:10]
