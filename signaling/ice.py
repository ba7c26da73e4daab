"""ICE server configuration and time-limited TURN credentials (coturn `use-auth-secret`).

coturn's REST-API scheme: username "<expiry unix time>:<id>", password
base64(HMAC-SHA1(shared secret, username)). coturn recomputes the password
from the username, so credentials need no database and expire by themselves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SignalingError

ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


class IceConfigError(SignalingError):
    pass


@dataclass(frozen=True, slots=True)
class IceConfig:
    servers: tuple[dict[str, Any], ...] = ()
    turn_secret: str | None = None
    turn_ttl: int = 6 * 3600

    def for_peer(self, peer: str, now: float) -> list[dict[str, Any]]:
        """RTCIceServer entries for one participant; TURN entries get fresh credentials."""
        result: list[dict[str, Any]] = []
        for server in self.servers:
            entry = dict(server)
            urls = entry["urls"]
            is_turn = any(u.startswith(("turn:", "turns:")) for u in urls)
            if is_turn and self.turn_secret and "username" not in entry:
                entry["username"], entry["credential"] = turn_credentials(
                    self.turn_secret, peer, int(now) + self.turn_ttl
                )
            result.append(entry)
        return result


def turn_credentials(secret: str, user: str, expiry: int) -> tuple[str, str]:
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def load_ice_config(urls: list[str], file: Path | None, turn_secret: str | None, turn_ttl: int) -> IceConfig:
    """From `--ice-server URL` flags and/or an `--ice-servers FILE` (a JSON RTCIceServer list)."""
    servers: list[dict[str, Any]] = [{"urls": [url]} for url in urls]
    if file is not None:
        try:
            loaded = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IceConfigError(f"cannot read ICE servers from {file}: {exc}") from exc
        if not isinstance(loaded, list):
            raise IceConfigError(f"{file} must hold a JSON list of {{urls, username?, credential?}}")
        servers.extend(loaded)
    checked = tuple(_check(s, i) for i, s in enumerate(servers))
    if turn_ttl < 60:
        raise IceConfigError("--turn-ttl must be at least 60 seconds")
    return IceConfig(checked, turn_secret or None, turn_ttl)


def _check(server: object, index: int) -> dict[str, Any]:
    if not isinstance(server, dict) or "urls" not in server or set(server) - {"urls", "username", "credential"}:
        raise IceConfigError(f"ICE server {index}: expected {{urls, username?, credential?}}")
    urls = server["urls"]
    urls = [urls] if isinstance(urls, str) else urls
    if (
        not isinstance(urls, list)
        or not urls
        or not all(isinstance(u, str) and u.startswith(ICE_SCHEMES) for u in urls)
    ):
        raise IceConfigError(f"ICE server {index}: urls must be stun:, stuns:, turn: or turns: URLs")
    return {**server, "urls": urls}
