"""Public trust endpoints: the ceremony root certificate and the RFC 3161 TSA.

`POST /tsa` speaks plain RFC 3161 over HTTP, so standard tools work against it:
    openssl ts -query -data FILE -sha256 -cert -out q.tsq
    curl -s -H 'Content-Type: application/timestamp-query' --data-binary @q.tsq URL/tsa > r.tsr
    openssl ts -verify -in r.tsr -queryfile q.tsq -CAfile ca.pem -untrusted tsa.pem
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding

from .appkeys import CRLS, PKI, SERVICE, TSA, TSA_LIMIT
from .client import limit_key
from .errors import BadRequest, NotFound, TooManyRequests
from .settings import utc_clock

routes = web.RouteTableDef()
MAX_QUERY_BYTES = 8 * 1024  # a TimeStampReq is a few hundred bytes


@routes.get("/ca.pem")
async def ca_pem(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[PKI].root_pem,
        content_type="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="ca.pem"'},
    )


@routes.get("/tsa.pem")
async def tsa_pem(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[PKI].tsa.certificate_pem,
        content_type="application/x-pem-file",
        headers={"Content-Disposition": 'attachment; filename="tsa.pem"'},
    )


@routes.get("/pki/chain.pem")
async def chain_pem(request: web.Request) -> web.Response:
    """The issuing CA (and the current TSA and seal): what lies between a leaf and the root."""
    pki = request.app[PKI]
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in (*pki.chain, pki.tsa.certificate, pki.seal.certificate))
    return web.Response(body=pem, content_type="application/x-pem-file")


@routes.get(r"/pki/crl/{key:[0-9a-f]{40}}.crl")
async def crl(request: web.Request) -> web.Response:
    """Each CA's current CRL, where its certificates' distribution points say it is (RFC 5280 4.2.1.13)."""
    now = request.app[SERVICE].clock()
    publisher = request.app[CRLS]
    # Read on the loop, which adds to the ceremony states they come from; only the signing is threaded.
    revocations = publisher.revocations()
    der = await asyncio.to_thread(publisher.crl, request.match_info["key"], now, revocations)
    if der is None:
        raise NotFound("no CA of this server has that key identifier")
    return web.Response(body=der, content_type="application/pkix-crl", headers={"Cache-Control": "no-cache"})


@routes.post("/tsa")
async def timestamp(request: web.Request) -> web.Response:
    # Open to anyone (standard tools use it), so limited per client: a flood spends its own share.
    wait = await request.app[TSA_LIMIT].admit(limit_key(request))
    if wait:
        raise TooManyRequests("too many time-stamp requests from this address; slow down", retry_after=wait)
    if request.content_type != "application/timestamp-query":
        raise BadRequest("send a DER TimeStampReq with Content-Type: application/timestamp-query")
    if request.content_length is not None and request.content_length > MAX_QUERY_BYTES:
        raise BadRequest(f"a time-stamp query is at most {MAX_QUERY_BYTES} bytes")
    query = await request.content.read(MAX_QUERY_BYTES + 1)
    if len(query) > MAX_QUERY_BYTES:
        raise BadRequest(f"a time-stamp query is at most {MAX_QUERY_BYTES} bytes")
    # Signing is ~1 ms of CPU; a thread keeps the event loop free under load.
    reply = await asyncio.to_thread(request.app[TSA].respond, query, utc_clock())
    return web.Response(body=reply, content_type="application/timestamp-reply")
