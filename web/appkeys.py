"""Typed application state keys (aiohttp `web.AppKey`), shared by routes and the app factory.

Not cryptographic keys: those live in signatures/ (pki.py, keys.py).
"""

from __future__ import annotations

import jinja2
from aiohttp import web

from ceremony.runtime.bus import Bus
from ceremony.runtime.service import CeremonyService
from ceremony.runtime.store import Records
from signatures.consent_desk import ConsentDesk
from signatures.crl import CrlPublisher
from signatures.pdf_desk import PdfDesk
from signatures.pki import CeremonyPki
from signatures.record.sealer import Sealer
from signatures.tsa import TimeStampAuthority

from .limits import ClientLimit
from .recording import Recorders
from .rtmp import RtmpOut
from .settings import Settings

SERVICE = web.AppKey("service", CeremonyService)
SETTINGS = web.AppKey("settings", Settings)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
PKI = web.AppKey("pki", CeremonyPki)
TSA = web.AppKey("tsa", TimeStampAuthority)
CONSENTS = web.AppKey("consent_desk", ConsentDesk)
RECORDS = web.AppKey("records", Records)
BUS = web.AppKey("bus", Bus)  # only with --bus
PDFS = web.AppKey("pdf_desk", PdfDesk)
SEALER = web.AppKey("sealer", Sealer)
CRLS = web.AppKey("crls", CrlPublisher)
TSA_LIMIT = web.AppKey("tsa_limit", ClientLimit)
RECORDERS = web.AppKey("recorders", Recorders)
RTMP = web.AppKey("rtmp", RtmpOut)
