"""An external TSA's tokens, checked when they arrive as the verifier will judge them years later.

A TSA that answers with a token of another PKI (a misconfigured URL, a proxy in
the way) would otherwise have its tokens recorded in the hash-chained log, and
the record would fail only when someone verifies it. Checked here, on arrival:
signature and imprint, a path from the TSA's certificate to the anchors the
record will be verified under, valid at the token's time and not revoked (CRLs
fetched from where its certificates point, as the seal fetches them).
"""

from __future__ import annotations

import hashlib

import aiohttp

from ..cms import check_token
from ..errors import SignatureError, TimestampError
from ..timestamping import Timestamper, Token
from .renew import distribution_points, fetch_crls
from .report import CHECK_ERRORS
from .stamps import check_stamp
from .validation import Anchors, Material


class CheckedTimestamper:
    """`inner` (an external TSA), whose every token must hold under `anchors` or fails the request."""

    def __init__(self, inner: Timestamper, name: str, anchors: Anchors, session: aiohttp.ClientSession) -> None:
        self._inner, self._name, self._anchors, self._session = inner, name, anchors, session

    async def timestamp(self, data: bytes) -> Token:
        return await self.timestamp_digest(hashlib.sha256(data).digest())

    async def timestamp_digest(self, digest: bytes) -> Token:
        token = await self._inner.timestamp_digest(digest)
        try:
            carried = check_token(token.der, digest=digest).certificates
            crls = await fetch_crls(distribution_points(carried), self._session)
            material = Material(certificates=carried, crls=tuple(crls))
            await check_stamp(
                token.der, judged_at=token.gen_time, anchors=self._anchors, material=material, digest=digest
            )
        except (SignatureError, *CHECK_ERRORS) as exc:
            raise TimestampError(f"the TSA at {self._name} answered with a token that does not hold: {exc}") from exc
        return token
