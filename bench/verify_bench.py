"""`ceremony verify` on a six-party record, beside the standard tools an archivist would run on the same record.

One `ceremony demo` makes the record. Then, each round, in rotating order:

- ours: `ceremony verify RECORD --trust ROOT` as a process (interpreter start, imports, every check);
- the floor: the standard tools a person would run for the same ground, each as a process: `pdfsig`
  (with an NSS database trusting the root, made once), `openssl ts -verify` for every token in the
  record (evidence, each decision, each PDF signature value), and `openssl cms -verify` for the seal.

Wall time per round, and the peak resident memory of the `ceremony verify` process (from wait4).

    .venv/bin/python -m bench.verify_bench --rounds 10
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.common import ROOT, demo_record, machine


def unpack(record: Path, into: Path) -> list[tuple[str, str]]:
    """The record unzipped, NSS trusting its root; the (token, data) pairs openssl checks."""
    with zipfile.ZipFile(record) as archive:
        archive.extractall(into)
        names = archive.namelist()
    (into / "nss").mkdir()
    subprocess.run(["certutil", "-N", "-d", "sql:nss", "--empty-password"], cwd=into, check=True)
    add = ["certutil", "-A", "-d", "sql:nss", "-n", "root", "-t", "CT,C,C", "-i", "ca.pem"]
    subprocess.run(add, cwd=into, check=True)
    pairs = [("evidence.tsr", "evidence.json")]
    for name in sorted(names):
        if name.startswith("consents/") and name.endswith(".tsr"):
            pairs.append((name, re.sub(r"(\.[0-9]+)?\.tsr$", ".statement.json", name)))
        elif name.startswith("signatures/") and name.endswith(".tsr"):
            pairs.append((name, re.sub(r"(\.[0-9]+)?\.tsr$", ".value", name)))
    return pairs


SIGNATURES = 6  # the demo record's PAdES signatures; pdfsig cannot validate the seventh, the document timestamp


@dataclass(slots=True)
class Tools:
    """One run of the standard tools: the whole set and each tool's share, in seconds."""

    total: float
    pdfsig: float
    each_ts: list[float]  # one `openssl ts -verify` per token
    cms: float


def run_tool(command: list[str], where: Path) -> tuple[float, str]:
    """Wall seconds of one tool as a process, and what it printed (stdout and stderr)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=where, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout + done.stderr


def standard_tools(where: Path, pairs: list[tuple[str, str]]) -> Tools:
    started = time.perf_counter()
    # pdfsig exits 0 whatever it finds in the signatures: what it reports is the check.
    pdfsig, report = run_tool(["pdfsig", "-nssdir", "sql:nss", "mou-signed.pdf"], where)
    assert report.count("Signature is Valid.") == SIGNATURES, report
    assert report.count("Certificate is Trusted.") == SIGNATURES, report
    each_ts = []
    for token, data in pairs:
        check = ["openssl", "ts", "-verify", "-in", token, "-token_in", "-data", data, "-CAfile", "ca.pem"]
        seconds, said = run_tool([*check, "-untrusted", "chain.pem"], where)
        assert "Verification: OK" in said, (token, said)
        each_ts.append(seconds)
    seal = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "evidence.p7s", "-content"]
    cms, said = run_tool([*seal, "evidence.json", "-CAfile", "ca.pem", "-out", "/dev/null"], where)
    assert "Verification successful" in said, said
    return Tools(time.perf_counter() - started, pdfsig, each_ts, cms)


def adesverify(where: Path) -> float:
    """pyHanko's own long-term check of the PDF alone (its CLI, revocation checks on): the Python tool beside ours."""
    started = time.perf_counter()
    pyhanko = ROOT / ".venv" / "bin" / "pyhanko"
    check = [str(pyhanko), "sign", "adesverify", "--trust", "ca.pem", "--trust-replace", "mou-signed.pdf"]
    subprocess.run(check, cwd=where, capture_output=True, check=True)
    return time.perf_counter() - started


def ceremony_verify(record: Path, root: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one `ceremony verify`, which must say VALID."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "verify", str(record), "--trust", str(root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    assert process.returncode == 0 and b"VALID at" in output, output[-400:]
    return elapsed, usage.ru_maxrss


def p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        record, root = demo_record(workdir)
        pairs = unpack(record, workdir / "unzipped")
        ours: list[float] = []
        tools: list[Tools] = []
        ades: list[float] = []
        memory: list[int] = []
        where = workdir / "unzipped"
        ceremony_verify(record, root)  # warm the page cache and bytecode
        standard_tools(where, pairs)
        adesverify(where)
        for n in range(args.rounds):
            for turn in range(3):
                match (n + turn) % 3:
                    case 0:
                        seconds, peak = ceremony_verify(record, root)
                        ours.append(seconds)
                        memory.append(peak)
                    case 1:
                        tools.append(standard_tools(where, pairs))
                    case _:
                        ades.append(adesverify(where))
        size = record.stat().st_size
    print(machine(f"pyHanko {metadata.version('pyHanko')}", f"cryptography {metadata.version('cryptography')}"))
    print(f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}; {args.rounds} rounds, alternating")
    print(f"six-party demo record, {size} bytes; the floor runs pdfsig, {len(pairs)} x openssl ts -verify, openssl cms")
    print(f"{'':<44} {'p50 ms':>8} {'p90 ms':>8} {'p50/floor':>10}")
    floor = p([t.total for t in tools], 0.5)
    rows = (
        ("floor: the standard tools, as processes", [t.total for t in tools]),
        ("  part: pdfsig (six signatures valid)", [t.pdfsig for t in tools]),
        ("  part: one openssl ts -verify (any token)", [s for t in tools for s in t.each_ts]),
        (f"  part: all {len(pairs)} openssl ts -verify", [sum(t.each_ts) for t in tools]),
        ("  part: openssl cms -verify (the seal)", [t.cms for t in tools]),
        ("pyhanko sign adesverify, the PDF alone", ades),
        ("ceremony verify (a process)", ours),
    )
    for label, values in rows:
        print(
            f"{label:<44} {p(values, 0.5) * 1000:>8.1f} {p(values, 0.9) * 1000:>8.1f} {p(values, 0.5) / floor:>9.2f}x"
        )
    print(f"ceremony verify peak RSS: p50 {p(memory, 0.5) / 1024:.0f} MiB, max {max(memory) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
