"""Typed application state keys (aiohttp AppKey), shared by routes and the app factory."""

from __future__ import annotations

import jinja2
from aiohttp import web

from ceremony.runtime.service import CeremonyService
from signatures.crl import CrlPublisher
from signatures.pki import CeremonyPki
from signatures.record.sealer import Sealer
from signatures.record.store import RecordStore
from signatures.tsa import TimeStampAuthority

from .pades_desk import PadesDesk
from .settings import Settings
from .signing import SigningDesk

SERVICE = web.AppKey("service", CeremonyService)
SETTINGS = web.AppKey("settings", Settings)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
PKI = web.AppKey("pki", CeremonyPki)
TSA = web.AppKey("tsa", TimeStampAuthority)
DESK = web.AppKey("signing_desk", SigningDesk)
RECORDS = web.AppKey("records", RecordStore)
PADES = web.AppKey("pades_desk", PadesDesk)
SEALER = web.AppKey("sealer", Sealer)
CRLS = web.AppKey("crls", CrlPublisher)
