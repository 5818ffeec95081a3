"""mistral_common's own test suite, run twice: unpatched (``MISTRAL_TOK_PATCH=0``) and through
``mistral-tok run`` (every mistral-tok layer patched into the pytest process). Every test must end
the same way in both runs, and the patched run must have served calls natively.

The suite is the one mistral_common's sdist ships (``pip download --no-binary :all:``; the
version installed here). Test modules that need helpers the sdist does not ship fail to collect
in both runs alike and are listed. No network after the download; the sdist is cached in
``--work`` (default ``target/mistral_common_suite``).

    python scripts/mistral_common_suite.py [--work DIR] [-k EXPR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sdist_tests(work: Path) -> Path:
    release = version("mistral_common")
    folder = work / f"mistral_common-{release}"
    if (folder / "tests").is_dir():
        return folder
    work.mkdir(parents=True, exist_ok=True)
    archive = work / f"mistral_common-{release}.tar.gz"
    if not archive.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
            + ["--no-binary", ":all:", f"mistral-common=={release}", "-d", str(work)],
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data") if sys.version_info >= (3, 12) else tar.extractall(work)
    return folder


def outcomes(report: Path) -> dict[str, str]:
    out = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[name] = kinds[0] if kinds else "passed"
    return out


def start(folder: Path, report: Path, patched: bool, extra: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISTRAL_TOK")}
    pytest = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"]
    pytest += ["--continue-on-collection-errors", f"--junitxml={report}", *extra]
    if patched:
        env["MISTRAL_TOK_RUN_VERBOSE"] = "1"
        command = [sys.executable, "-m", "mistral_tok", "run", "--", *pytest]
    else:
        env["MISTRAL_TOK_PATCH"] = "0"
        command = pytest
    return subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(run: subprocess.Popen, report: Path, label: str) -> tuple[dict[str, str], str]:
    stdout, stderr = run.communicate()
    tail = stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"  {label}: {tail[0]}")
    return outcomes(report), stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "target" / "mistral_common_suite")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    args = parser.parse_args()
    args.work = args.work.resolve()
    folder = sdist_tests(args.work)
    extra = ["-k", args.keyword] if args.keyword else []
    print(f"mistral_common {version('mistral_common')} test suite from its sdist ({folder})")
    # Both runs at once: they are independent, and CI has two cores.
    unpatched = start(folder, args.work / "unpatched.xml", False, extra)
    patched = start(folder, args.work / "patched.xml", True, extra)
    theirs, _ = finish(unpatched, args.work / "unpatched.xml", "unpatched")
    ours, stderr = finish(patched, args.work / "patched.xml", "patched  ")
    stats = [
        json.loads(line.split(": ", 1)[1])
        for line in stderr.splitlines()
        if line.startswith("mistral-tok stats")
    ]
    native = sum(layer.get("native", 0) for s in stats for layer in s.values())
    fallback = sum(layer.get("fallback", 0) for s in stats for layer in s.values())
    reasons: Counter[str] = Counter()
    for s in stats:
        for layer in s.values():
            reasons.update(layer.get("fallback_reasons", {}))
    different = sorted(t for t in theirs.keys() | ours.keys() if theirs.get(t) != ours.get(t))
    print(f"  outcomes unpatched: {dict(Counter(theirs.values()))}")
    print(f"  outcomes patched:   {dict(Counter(ours.values()))}")
    print(f"  served natively: {native:,} calls; by mistral_common's own function: {fallback:,}")
    for reason, n in reasons.most_common():
        print(f"    {n:>5} x {reason}")
    for test in different[:20]:
        print(f"  DIFFERENT {test}: unpatched {theirs.get(test)}, patched {ours.get(test)}")
    if different:
        print(f"{len(different)} test(s) end differently with the patch")
        return 1
    if native == 0:
        print("the patched run served nothing natively: the comparison proves nothing")
        return 1
    print(f"all {len(theirs):,} tests end the same way with and without the patch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
