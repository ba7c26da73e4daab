"""The aiohttp application factory: state in AppKeys, resources in cleanup_ctx."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography import x509

from ceremony.events import Envelope, Role
from ceremony.runtime.bus import Bus
from ceremony.runtime.service import CeremonyService, Clock
from ceremony.runtime.shared_challenges import SharedChallenges
from ceremony.runtime.shared_turns import LeaseLocks
from ceremony.runtime.stores import open_service
from signaling.hub import Hub
from signaling.protocol import CeremonyUpdated
from signaling.relay import NodeRelay
from signaling.server import HUB
from signaling.server import routes as signal_routes
from signatures.consent_desk import ConsentDesk
from signatures.crl import CrlPublisher, revocations_in
from signatures.errors import PkiError
from signatures.pdf_desk import PdfDesk
from signatures.pki import ROTATION_NOTICE, CeremonyPki, crl_base_named, key_use_period
from signatures.pki_store import load_or_create, load_pair, retired_issuers
from signatures.record.arrival import CheckedTimestamper
from signatures.record.build import Renderers, SealKit
from signatures.record.sealer import Sealer
from signatures.record.validation import Anchors
from signatures.timestamping import LocalTimestamper, RemoteTimestamper, Timestamper, TimestampSet
from signatures.tsa import TimeStampAuthority
from signatures.turns import SharedTurns, Turns

from . import (
    api,
    archive,
    entry,
    health,
    link_sheet,
    media_api,
    pages,
    pdf_nodes,
    sessions,
    signing_api,
    stream,
    trust,
    verify_api,
    views,
    watch,
)
from .appkeys import (
    BUS,
    CONSENTS,
    CRLS,
    PDFS,
    PKI,
    RECORDERS,
    RECORDS,
    RTMP,
    SEALER,
    SERVICE,
    SETTINGS,
    TEMPLATES,
    TSA,
    TSA_LIMIT,
)
from .auth import Principal
from .client import address_of
from .completion import render_completion_pdf, render_instructions
from .i18n import role_names
from .limits import RateLimit, SharedRateLimit
from .media_api import sweep_retention
from .middleware import caught_up, errors, remember_language, security_headers
from .mou import signature_box, template_environment
from .recording import Recorders
from .rtmp import RtmpOut
from .settings import BUILTIN, MAX_BODY_BYTES, Settings, utc_clock
from .signal_gate import signal_gate

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


def create_app(settings: Settings, *, clock: Clock = utc_clock) -> web.Application:
    app = web.Application(middlewares=[remember_language, errors, caught_up], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[TEMPLATES] = template_environment()
    app[TSA_LIMIT] = RateLimit(rate=settings.limits.tsa_per_second, burst=settings.limits.tsa_burst)

    async def service_ctx(app: web.Application) -> AsyncIterator[None]:
        service, backing = await asyncio.to_thread(open_service, settings.store_url, clock=clock)
        app[SERVICE] = service
        app[RECORDS] = backing.records
        bus = Bus(settings.bus_url) if settings.bus_url is not None else None
        if bus is not None:
            app[BUS] = bus
        pki = await asyncio.to_thread(_load_pki, settings, clock())
        app[PKI] = pki
        app[TSA] = TimeStampAuthority(pki.tsa, pki.chain)
        http = aiohttp.ClientSession()
        urls = settings.tsa_urls or (BUILTIN,)
        tsa_anchors = _tsa_anchors(settings)
        # An external TSA's tokens are checked on arrival under the anchors the record names: a
        # misconfigured one fails the consent now (503), not the record when someone verifies it.
        anchors = Anchors(root=pki.root, tsa=tsa_anchors)
        members: list[Timestamper] = [
            LocalTimestamper(app[TSA], clock)
            if url == BUILTIN
            else CheckedTimestamper(RemoteTimestamper(url, http), url, anchors, http)
            for url in urls
        ]
        tsas = TimestampSet(members)
        retired = await asyncio.to_thread(retired_issuers, settings.data_dir / "pki")
        app[CRLS] = crls = CrlPublisher(pki, lambda: revocations_in(service.ceremonies()), retired)
        app[CONSENTS] = ConsentDesk(service, pki, tsas, None if bus is None else SharedChallenges(bus))
        turns = Turns() if bus is None else SharedTurns(bus)
        if bus is not None:  # one budget per client for the cluster, not one per node
            limits = settings.limits
            app[TSA_LIMIT] = SharedRateLimit(bus, "tsa", rate=limits.tsa_per_second, burst=limits.tsa_burst)
        app[PDFS] = PdfDesk(service, pki, tsas, turns, locate=signature_box)
        kit = SealKit(
            pki=pki,
            tsas=tsas,
            crls=crls.all,
            renderers=Renderers(completion=render_completion_pdf, instructions=render_instructions),
            tsa_anchors=tsa_anchors,
            fetch=any(url != BUILTIN for url in urls),
        )
        app[SEALER] = Sealer(service, kit, turns, app[RECORDS])
        await service.start()
        hub = Hub(
            service,
            settings.signal,
            partial(_event_for_role, service),
            gate=signal_gate,
            summary=views.summary,
            role_names=role_names(),
            address=address_of,
            ready=partial(health.node_health, app),
        )
        app[HUB] = hub
        await hub.start()
        relay = None if bus is None else NodeRelay(bus, hub)  # several nodes: rooms live on one, reached from all
        if relay is not None:
            await relay.start()
        app[RTMP] = rtmp = RtmpOut(settings.recording.rtmp_urls)
        recorders = Recorders(
            service,
            settings.data_dir,
            settings.recording,
            on_programme=rtmp.segment,
            locks=None if bus is None else LeaseLocks(bus),
        )
        app[RECORDERS] = recorders
        await recorders.start()
        days = settings.recording.media_retention_days
        retention = None if days is None else asyncio.create_task(_retention(service, settings.data_dir, days, clock))
        yield
        if retention is not None:
            retention.cancel()
        await recorders.close()  # each recorder's last segments into the log before the service closes
        await rtmp.close()
        if relay is not None:
            await relay.close()  # the rooms go to another node now, not when their leases lapse
        await hub.close()
        await turns.close()  # the turns this node held go to the next node now, not when their leases lapse
        await service.close()
        await http.close()
        if bus is not None:
            await bus.close()

    async def end_streams(app: web.Application) -> None:
        await app[HUB].close()
        app[SERVICE].stop_following()

    app.cleanup_ctx.append(service_ctx)
    # ---- several nodes: a PDF signature finished on another node than its session's (issue 14) ----
    app.cleanup_ctx.append(pdf_nodes.across_nodes)  # after service_ctx: it needs the desk and the bus
    app.on_shutdown.append(end_streams)
    app.on_response_prepare.append(security_headers)
    app.add_routes(api.routes)
    app.add_routes(stream.routes)
    app.add_routes(entry.routes)
    app.add_routes(sessions.routes)
    app.add_routes(pages.routes)
    app.add_routes(signal_routes)
    app.add_routes(trust.routes)
    app.add_routes(signing_api.routes)
    app.add_routes(archive.routes)
    app.add_routes(verify_api.routes)
    app.add_routes(media_api.routes)
    health.setup(app)  # /healthz and node_health: one shared probe of the store and the bus
    link_sheet.setup(app)
    watch.setup(app)  # the broadcast: HLS from the log, the host's controls, hls.js (before /static/)
    app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)
    return app


async def _retention(service: CeremonyService, data_dir: Path, days: int, clock: Clock) -> None:
    """--media-retention: hourly, the media of ceremonies sealed longer ago than that is deleted."""
    while True:
        try:
            await sweep_retention(service, data_dir, days, clock())
        except Exception:
            log.exception("deleting media per retention failed; trying again in an hour")
        await asyncio.sleep(3600)


def _event_for_role(service: CeremonyService, envelope: Envelope) -> dict[Role, CeremonyUpdated | None]:
    """A ceremony update as each role's signaling message, shaped like the HTTP timeline for it."""
    if isinstance(envelope.event, views.RECORDING_EVENTS):
        return dict.fromkeys(Role)  # 1.5 a second while recording, and pushed to no one: no summary made
    state = views.summary(service.get(envelope.ceremony))  # once per event, shared by every role
    messages: dict[Role, CeremonyUpdated | None] = {}
    for role in Role:
        shown = views.envelope_json(envelope, Principal(envelope.ceremony, role, None))
        messages[role] = None if shown is None else CeremonyUpdated(event=shown, state=state)
    return messages


def _tsa_anchors(settings: Settings) -> tuple[x509.Certificate, ...]:
    """The external TSA's CA certificates (--tsa-ca), checked at start rather than at the first seal."""
    anchors: list[x509.Certificate] = []
    for path in settings.tsa_ca_files:
        try:
            anchors.extend(x509.load_pem_x509_certificates(path.read_bytes()))
        except (OSError, ValueError) as exc:
            raise PkiError(f"--tsa-ca {path}: not a readable PEM certificate file ({exc})") from None
    if any(url != BUILTIN for url in settings.tsa_urls) and not anchors:
        raise PkiError("an external --tsa-url needs its CA certificate(s) as --tsa-ca, to validate its tokens")
    return tuple(anchors)


def _load_pki(settings: Settings, now: datetime) -> CeremonyPki:
    """The data directory's PKI, with the operator's own CA and/or TSA where given."""
    root = load_pair(*settings.ca_files) if settings.ca_files else None
    tsa = load_pair(*settings.tsa_files) if settings.tsa_files else None
    pki = load_or_create(settings.data_dir / "pki", now, crl_base=settings.crl_base, root=root, tsa=tsa)
    days = ROTATION_NOTICE.days
    for what, pair in (("TSA", pki.tsa), ("seal", pki.seal)):
        until = key_use_period(pair.certificate)[1]
        if pair is tsa:  # the operator's own: never replaced here
            if until - now < ROTATION_NOTICE:
                log.warning(
                    "the TSA key given with --tsa-key may stamp until %s: give the server a new one", _when(until)
                )
            continue
        # Keys are replaced only at start-up, once less than ROTATION_NOTICE of their use is left:
        # a server still running at `until` refuses to stamp (503) and to seal.
        log.info(
            "the %s key signs until %s: restart the server within the %d days before then", what, _when(until), days
        )
    _warn_of_other_addresses(settings, pki, own_tsa=tsa is not None)
    offline = root is None and not (settings.data_dir / "pki" / "root.key").exists()
    until = key_use_period(pki.issuing.certificate)[1]
    if offline and until - now < ROTATION_NOTICE:
        # With the root elsewhere the server cannot renew its issuing CA; it goes on issuing with the old key.
        log.warning(
            "the issuing CA's 5-year key-use period %s on %s: have the offline root certify a new one "
            "(ceremony pki request, issue, install; docs/deploy.md)",
            "ended" if until < now else "ends",
            _when(until),
        )
    return pki


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _warn_of_other_addresses(settings: Settings, pki: CeremonyPki, *, own_tsa: bool) -> None:
    """Certificates made under another --public-url/--crl-url name CRLs this server does not publish there."""
    ours = settings.crl_base.rstrip("/")
    named = {"issuing CA": pki.issuing.certificate, "seal": pki.seal.certificate}
    if not own_tsa:  # an operator's own TSA names its own CA's CRLs
        named["TSA"] = pki.tsa.certificate
    for what, certificate in named.items():
        base = crl_base_named(certificate)
        if base is not None and base.rstrip("/") != ours:
            log.warning(
                "the %s certificate was issued under another address: it names its CRL under %s, but this "
                "server publishes CRLs under %s (--public-url/--crl-url); see docs/deploy.md, "
                "'Changing the public address'",
                what,
                base,
                ours,
            )
