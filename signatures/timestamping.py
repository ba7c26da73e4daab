"""Getting RFC 3161 tokens: from the built-in TSA, or from an external TSA over HTTP.

Build -> I/O -> check, as separate steps; only the I/O is async. A configured
external TSA that fails makes the caller fail with TimestampError: there is
never a silent fallback to the local clock. An external TSA's reply is read
up to a bound and its token's signature and imprint are checked on arrival; its
path to the configured anchors is checked by the record's CheckedTimestamper
(signatures/record/arrival.py), which wraps this one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from asn1crypto import cms, tsp
from pyhanko.sign import timestamps

from .cms import check_token
from .errors import SignatureError, TimestampError
from .tsa import TimeStampAuthority, TimeStampResponse

MAX_REPLY_BYTES = 64 * 1024  # a TimeStampResp with its certificates is a few KiB


@dataclass(frozen=True, slots=True)
class Token:
    der: bytes  # the TimeStampToken (CMS ContentInfo)
    gen_time: dt.datetime


class Timestamper(Protocol):
    async def timestamp(self, data: bytes) -> Token:
        """A token over SHA-256(data)."""

    async def timestamp_digest(self, digest: bytes) -> Token:
        """A token over a SHA-256 digest computed by the caller (a PDF signature's value, say)."""


class TimestampSet:
    """Every configured TSA (one per country, say), asked at once: one token from each, in order.

    The first is the primary: its token is the one embedded in a PDF signature. Any
    failure fails the whole request, loudly: a record must carry every configured TSA.
    """

    def __init__(self, members: Sequence[Timestamper]) -> None:
        if not members:
            raise ValueError("at least one TSA is needed")
        self.members = tuple(members)

    @property
    def primary(self) -> Timestamper:
        return self.members[0]

    @property
    def others(self) -> tuple[Timestamper, ...]:
        return self.members[1:]

    async def timestamp(self, data: bytes) -> tuple[Token, ...]:
        return await self.timestamp_digest(hashlib.sha256(data).digest())

    async def timestamp_digest(self, digest: bytes) -> tuple[Token, ...]:
        return await _all(self.members, digest)


async def _all(members: Sequence[Timestamper], digest: bytes) -> tuple[Token, ...]:
    return tuple(await asyncio.gather(*(m.timestamp_digest(digest) for m in members)))


async def timestamp_others(tsas: TimestampSet, digest: bytes) -> tuple[Token, ...]:
    """Tokens over `digest` from every TSA but the primary (whose token a PDF signature already holds)."""
    return await _all(tsas.others, digest)


class TokenSource(timestamps.TimeStamper):
    """pyHanko's timestamper interface over one of ours; remembers the last token, for the log."""

    def __init__(self, timestamper: Timestamper) -> None:
        super().__init__(include_nonce=False)  # type: ignore[no-untyped-call]
        self._timestamper = timestamper
        self.last: Token | None = None

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        if md_algorithm != "sha256":
            raise TimestampError(f"only SHA-256 imprints are stamped, not {md_algorithm}")
        token = await self._timestamper.timestamp_digest(message_digest)
        self.last = token
        return cms.ContentInfo.load(token.der)


class LocalTimestamper:
    """The built-in TSA; its clock is the server's."""

    def __init__(self, tsa: TimeStampAuthority, clock: Callable[[], dt.datetime]) -> None:
        self._tsa, self._clock = tsa, clock

    async def timestamp(self, data: bytes) -> Token:
        return await self.timestamp_digest(hashlib.sha256(data).digest())

    async def timestamp_digest(self, digest: bytes) -> Token:
        stamp = self._tsa.stamp(digest, self._clock())
        return Token(stamp.token, stamp.gen_time)


def build_request(digest: bytes, nonce: int) -> bytes:
    der: bytes = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
            "nonce": nonce,
            "cert_req": True,
        }
    ).dump()
    return der


def check_reply(reply: bytes, digest: bytes, nonce: int) -> Token:
    """The token of a granted reply that answers exactly our request, or TimestampError."""
    try:
        response = TimeStampResponse.load(reply)
        status = response["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            text = "; ".join(response["status"]["status_string"].native or [])
            raise TimestampError(f"the TSA refused: {status} {text}".strip())
        token = response["time_stamp_token"]
        info = token["content"]["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        if imprint["hash_algorithm"]["algorithm"].native != "sha256" or imprint["hashed_message"].native != digest:
            raise TimestampError("the TSA stamped something other than what was asked")
        if info["nonce"].native != nonce:
            raise TimestampError("the TSA's reply does not carry our nonce (a replayed or foreign reply)")
        der: bytes = cms.ContentInfo.dump(token)
        return Token(der, info["gen_time"].native)
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"the TSA's reply is not a valid RFC 3161 response: {exc}") from exc


class RemoteTimestamper:
    """An external TSA at `url` (application/timestamp-query over HTTP POST); each token's
    signature and imprint are checked on arrival."""

    def __init__(self, url: str, session: aiohttp.ClientSession, timeout: float = 10.0) -> None:
        self._url, self._session, self._timeout = url, session, timeout

    async def timestamp(self, data: bytes) -> Token:
        return await self.timestamp_digest(hashlib.sha256(data).digest())

    async def timestamp_digest(self, digest: bytes) -> Token:
        nonce = secrets.randbits(63)
        try:
            async with self._session.post(
                self._url,
                data=build_request(digest, nonce),
                headers={"Content-Type": "application/timestamp-query"},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                if response.status != 200:
                    raise TimestampError(f"the TSA at {self._url} answered HTTP {response.status}")
                reply = await self._read(response)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TimestampError(f"the TSA at {self._url} could not be reached: {exc or type(exc).__name__}") from exc
        token = check_reply(reply, digest, nonce)
        self._check(token, digest)
        return token

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The reply, refused past MAX_REPLY_BYTES: whatever answers at the URL is not trusted to be brief."""
        too_large = TimestampError(
            f"the TSA at {self._url} sent more than {MAX_REPLY_BYTES // 1024} KiB: not a time-stamp reply"
        )
        if response.content_length is not None and response.content_length > MAX_REPLY_BYTES:
            raise too_large
        chunks, total = [], 0
        async for chunk in response.content.iter_chunked(16 * 1024):
            total += len(chunk)
            if total > MAX_REPLY_BYTES:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _check(self, token: Token, digest: bytes) -> None:
        try:
            check_token(token.der, digest=digest)
        except SignatureError as exc:
            raise TimestampError(f"the TSA at {self._url} answered with a token that does not hold: {exc}") from exc


def imprint(token: bytes) -> bytes:
    """The digest a token stamps (its message imprint), so that another TSA can stamp the same."""
    info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    digest: bytes = info["message_imprint"]["hashed_message"].native
    return digest
