"""Small things every benchmark needs: a free loopback port and a line naming the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def machine(*extra: str) -> str:
    """Python, extra versions, CPUs and the kernel, for the head of a benchmark's output."""
    parts = [f"Python {platform.python_version()}", *extra, f"{os.cpu_count()} CPUs ({cpu_model()})"]
    return ", ".join([*parts, f"{platform.system().lower()} {platform.release()}"])


def demo_record(workdir: Path) -> tuple[Path, Path]:
    """A six-party record made by `ceremony demo` in `workdir`, and the root it was sealed under."""
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "demo", "--data", str(workdir / "demo")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    record = Path(re.search(r"^Record: (.+)$", done.stdout, re.M).group(1))  # type: ignore[union-attr]
    return record, workdir / "demo" / "pki" / "root.pem"
