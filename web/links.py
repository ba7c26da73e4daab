"""Capability link URLs and their QR codes."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from aiohttp import web

from .appkeys import SETTINGS
from .client import forwarded_proto


def base_url(request: web.Request) -> str:
    configured = request.app[SETTINGS].public_url
    if configured:
        return configured.rstrip("/")
    return f"{forwarded_proto(request) or request.scheme}://{request.host}"


def link_for(base: str, ceremony: str, token: str, lang: str | None = None) -> str:
    # The token rides in the fragment, which browsers never send to servers or proxies.
    # `?lang=` opens the holder's pages in their language (it sticks: web/middleware.py).
    query = f"?lang={lang}" if lang else ""
    return f"{base.rstrip('/')}/c/{ceremony}/enter{query}#{token}"


def ceremony_link(request: web.Request, ceremony: str, token: str, *, lang: str | None = None) -> str:
    return link_for(base_url(request), ceremony, token, lang)


def operator_link(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/console/enter#{token}"


def qr_svg(url: str) -> str:
    """An SVG QR code for a tablet to scan (medium error correction)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(url)
    code.make(fit=True)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode("utf-8")
