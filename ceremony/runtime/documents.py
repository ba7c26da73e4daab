"""Content-addressed files beside the log (the frozen originals).

A file is named by its SHA-256 and written atomically and durably *before*
the event that names it is appended, so the log never points at a file that a
crash could have lost. A file left without an event (crash in between) is
harmless: nothing refers to it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..errors import StoreError
from .durable import sync_directory


class DocumentFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(ch not in "0123456789abcdef" for ch in sha256):
            raise StoreError(f"not a SHA-256: {sha256!r}")
        return self.root / f"{sha256}.pdf"

    def put(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists() and self.read(sha) == data:
            return sha
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise StoreError(f"cannot write document {sha}: {exc}") from exc
        sync_directory(self.root)  # make the rename itself durable
        return sha

    def read(self, sha256: str) -> bytes:
        try:
            data = self.path(sha256).read_bytes()
        except OSError as exc:
            raise StoreError(f"document {sha256} is missing from {self.root}") from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreError(f"document {sha256} on disk does not match its hash")
        return data

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.pdf") if len(p.stem) == 64)
