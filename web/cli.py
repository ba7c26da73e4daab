"""The `ceremony` command: serve, demo, verify, renew, invite, operator-link, log verify, pki, venue-bot, recorder."""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import logging
import os
import signal
import ssl
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ceremony.capabilities import CEREMONY_ID_PATTERN
from ceremony.errors import CeremonyError
from ceremony.events import Role
from ceremony.runtime.bus import parse_bus_url
from ceremony.runtime.stores import open_service
from signaling.errors import SignalingError
from signatures.errors import SignatureError

from . import cli_pki, cli_record, cli_store

if TYPE_CHECKING:
    from .demo.bootstrap import DemoCreated
    from .settings import Settings

DEFAULT_DATA = Path(os.environ.get("CEREMONY_DATA", "data"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ceremony", description="Online MOU signing ceremony server")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (creates the demo ceremony on a fresh data directory)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data", type=Path, default=DEFAULT_DATA)
    cli_store.add_store_option(serve)
    serve.add_argument(
        "--bus",
        default=os.environ.get("CEREMONY_BUS"),
        metavar="URL",
        help="Redis shared by several nodes behind a load balancer, e.g. redis://10.0.0.5:6379/0 (needs a "
        "postgresql:// --store); or env CEREMONY_BUS; default: one node",
    )
    serve.add_argument("--tls-cert", type=Path)
    serve.add_argument("--tls-key", type=Path)
    serve.add_argument("--public-url", help="base URL for links, e.g. https://ceremony.example.org")
    serve.add_argument("--no-demo", action="store_true", help="do not create the demo ceremony")
    serve.add_argument("--ice-server", action="append", default=[], metavar="URL", help="stun:/turn: URL (repeatable)")
    serve.add_argument("--ice-servers", type=Path, metavar="FILE", help="JSON list of RTCIceServer entries")
    serve.add_argument(
        "--turn-secret",
        default=os.environ.get("CEREMONY_TURN_SECRET"),
        help="coturn static-auth-secret for time-limited TURN credentials (or env CEREMONY_TURN_SECRET)",
    )
    serve.add_argument("--turn-ttl", type=int, default=6 * 3600, help="TURN credential lifetime, seconds")
    serve.add_argument("--heartbeat-interval", type=float, default=10.0, help="signaling ping interval, seconds")
    serve.add_argument("--heartbeat-timeout", type=float, default=30.0, help="drop a silent peer after, seconds")
    serve.add_argument("--resume-window", type=float, default=60.0, help="keep a dropped session, seconds")
    serve.add_argument(
        "--idle-timeout",
        type=float,
        default=75.0,
        metavar="SECONDS",
        help="close a connection that sends no complete request (headers, or a WebSocket upgrade) for this long",
    )
    serve.add_argument(
        "--tsa-url",
        action="append",
        default=[],
        metavar="URL",
        help="an RFC 3161 TSA for every timestamp, repeatable (one in each country, say: each item then carries "
        "a token from each); 'builtin' names our own; default: the built-in one alone; failures are never masked",
    )
    serve.add_argument(
        "--crl-url", metavar="URL", help="where certificates say CRLs are published (default: PUBLIC_URL/pki/crl)"
    )
    serve.add_argument(
        "--tsa-ca",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="the external TSAs' CA certificate(s), to validate their tokens; named in each record (repeatable)",
    )
    serve.add_argument("--ca-cert", type=Path, help="use this CA certificate (PEM) instead of generating one")
    serve.add_argument("--ca-key", type=Path, help="its ECDSA P-256 private key (PEM)")
    serve.add_argument("--tsa-cert", type=Path, help="use this TSA certificate (PEM; timeStamping EKU, critical)")
    serve.add_argument("--tsa-key", type=Path, help="its ECDSA P-256 private key (PEM)")
    serve.add_argument(
        "--trusted-proxy",
        type=_network,
        action="append",
        default=[],
        metavar="CIDR",
        help="a reverse proxy in front (repeatable, e.g. 127.0.0.1/32): only from these peers are "
        "X-Forwarded-For / Forwarded believed, and then only up to the nearest hop not in them",
    )
    serve.add_argument(
        "--redirect-http",
        type=int,
        metavar="PORT",
        help="with --tls-cert: also listen for plain HTTP on PORT, answering every request with a redirect to https",
    )
    serve.add_argument(
        "--links-file",
        type=Path,
        metavar="PATH",
        help="write the first start's host and operator links to PATH (mode 0600) instead of printing them "
        "(stdout ends up in journald and other logs)",
    )
    serve.add_argument(
        "--rtmp-url",
        action="append",
        default=[],
        metavar="URL",
        help="push each recorded ceremony's programme to this RTMP target too (repeatable; "
        "e.g. rtmp://a.rtmp.youtube.com/live2/KEY); reconnects with backoff",
    )
    serve.add_argument(
        "--media-retention",
        type=int,
        metavar="DAYS",
        help="delete a sealed ceremony's recorded media this many days after the seal (the record keeps "
        "its manifest; docs/deploy.md); default: keep",
    )

    invite = sub.add_parser("invite", help="print a new capability link for one role in one ceremony")
    invite.add_argument("ceremony")
    invite.add_argument("role", choices=[r.value for r in Role if r is not Role.RECORDER])
    invite.add_argument("--venue")
    invite.add_argument("--signatory")
    invite.add_argument("--label", default="")
    invite.add_argument("--data", type=Path, default=DEFAULT_DATA)
    cli_store.add_store_option(invite)
    invite.add_argument("--base-url", default="http://127.0.0.1:8080")

    op = sub.add_parser("operator-link", help="print a new operator link (may create ceremonies)")
    op.add_argument("--data", type=Path, default=DEFAULT_DATA)
    cli_store.add_store_option(op)
    op.add_argument(
        "--revoke-all",
        action="store_true",
        help="revoke every operator link instead (a running server stops accepting them within a second)",
    )
    op.add_argument("--base-url", default="http://127.0.0.1:8080")

    cli_store.add_parsers(sub, DEFAULT_DATA)
    cli_record.add_parsers(sub)
    cli_pki.add_parser(sub, DEFAULT_DATA)

    demo = sub.add_parser("demo", help="run the Gangwon-Nanjing demo ceremony end to end, headless; verify its record")
    demo.add_argument("--data", type=Path, help="data directory (default: a new temporary directory)")

    bot = sub.add_parser("venue-bot", help="join as a headless venue (aiortc): send media, report what arrives")
    bot.add_argument("link", help="the venue's capability link (http://host/c/<id>/enter#<token>)")
    bot.add_argument("--play", metavar="FILE", help="send this audio/video file (looped) instead of test signals")
    bot.add_argument("--duration", type=float, metavar="SECONDS", help="leave after this long (default: stay)")
    bot.add_argument("--relay-only", action="store_true", help="use TURN relay candidates only")
    bot.add_argument("--verbose", action="store_true", help="log signaling and ICE progress on stderr")

    recorder = sub.add_parser("recorder", help="(started by the server) record a ceremony's halls; config on stdin")
    recorder.add_argument("--media", type=Path, required=True, help="the ceremony's media folder")
    recorder.add_argument("--verbose", action="store_true", help="log signaling and ICE progress on stderr")

    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "invite":
            return asyncio.run(_invite(args))
        if args.command == "operator-link":
            return asyncio.run(_operator_link(args))
        if args.command == "venue-bot":
            return _venue_bot(args)
        if args.command == "recorder":
            from signaling.bots.recorder_bot import recorder_command  # aiortc and PyAV only here

            return recorder_command(args.media, verbose=args.verbose)
        if args.command == "verify":
            return cli_record.run_verify(args)
        if args.command == "renew":
            return cli_record.run_renew(args)
        if args.command == "pki":
            return cli_pki.run(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "store":
            return cli_store.run_copy(args)
        return cli_store.run_log_verify(args)
    except (CeremonyError, SignalingError, SignatureError) as exc:
        print(f"ceremony: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    # The server's modules (WeasyPrint, aiortc's signaling, the app) load only for `serve`: an
    # archivist's `ceremony verify` should not pay half a second for them.
    from signaling.hub import SignalSettings
    from signaling.ice import load_ice_config

    from .settings import RecordingSettings, Settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.bus and not (args.store or "").startswith(("postgresql:", "postgres:")):
        print("ceremony: --bus joins nodes that share one database: give --store postgresql://…", file=sys.stderr)
        return 2
    if (args.tls_cert is None) != (args.tls_key is None):
        print("ceremony: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.redirect_http is not None and args.tls_cert is None:
        print("ceremony: --redirect-http redirects to the HTTPS listener: it needs --tls-cert", file=sys.stderr)
        return 2
    if args.links_file is not None and not args.links_file.parent.is_dir():
        print(f"ceremony: --links-file: no directory {args.links_file.parent}", file=sys.stderr)
        return 2
    ssl_context = None
    scheme = "http"
    if args.tls_cert is not None:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
        scheme = "https"
    local = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104 - only naming it
    public = args.public_url or f"{scheme}://{local}:{args.port}"
    for cert, key in ((args.ca_cert, args.ca_key), (args.tsa_cert, args.tsa_key)):
        if (cert is None) != (key is None):
            print("ceremony: --ca-cert/--ca-key and --tsa-cert/--tsa-key go in pairs", file=sys.stderr)
            return 2
    signal_settings = SignalSettings(
        ice=load_ice_config(args.ice_server, args.ice_servers, args.turn_secret, args.turn_ttl),
        heartbeat_interval=args.heartbeat_interval,
        heartbeat_timeout=args.heartbeat_timeout,
        resume_window=args.resume_window,
    )
    settings = Settings(
        data_dir=args.data,
        store=cli_store.store_url(args, must_exist=False) if args.store else None,
        bus_url=parse_bus_url(args.bus) if args.bus else None,
        public_url=public,
        create_demo=not args.no_demo,
        signal=signal_settings,
        tsa_urls=tuple(args.tsa_url),
        crl_url=args.crl_url,
        ca_files=(args.ca_cert, args.ca_key) if args.ca_cert else None,
        tsa_files=(args.tsa_cert, args.tsa_key) if args.tsa_cert else None,
        tsa_ca_files=tuple(args.tsa_ca),
        trusted_proxies=tuple(args.trusted_proxy),
        tls=ssl_context is not None,
        recording=RecordingSettings(
            # The recorder reaches this server on its own listener (with TLS, by the public name its
            # certificate is for).
            local_url=public if ssl_context is not None else f"http://{local}:{args.port}",
            rtmp_urls=tuple(args.rtmp_url),
            media_retention_days=args.media_retention,
        ),
    )
    asyncio.run(
        _run_server(
            settings,
            args.host,
            args.port,
            ssl_context,
            # To the https --public-url if one is given; else to the host each request names.
            redirect=None if args.redirect_http is None else (args.redirect_http, args.public_url),
            links_file=args.links_file,
            idle_timeout=args.idle_timeout,
        )
    )
    return 0


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address or network (CIDR): {text!r}") from None


async def _run_server(
    settings: Settings,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    *,
    redirect: tuple[int, str | None] | None = None,
    links_file: Path | None = None,
    idle_timeout: float = 75.0,
) -> None:
    """Start, announce only once the socket listens, stop cleanly on SIGINT/SIGTERM."""
    from aiohttp import web

    from .app import create_app
    from .appkeys import SERVICE
    from .demo.bootstrap import ensure_demo
    from .middleware import QuietAccessLogger
    from .redirect import redirect_app

    app = create_app(settings)
    # aiohttp's keep-alive timer also runs from the moment a connection is made: a client that sends
    # no complete request (slow header bytes, an idle TCP connection) is cut off after `idle_timeout`.
    runner = web.AppRunner(
        app, access_log_class=QuietAccessLogger, handle_signals=False, keepalive_timeout=idle_timeout
    )
    await runner.setup()
    runners = [runner]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        if redirect is not None:
            plain_port, public_url = redirect
            plain = web.AppRunner(
                redirect_app(port, public_url), handle_signals=False, access_log=None, keepalive_timeout=idle_timeout
            )
            await plain.setup()
            runners.append(plain)
            await web.TCPSite(plain, host, plain_port).start()
            print(f"Redirecting plain HTTP on port {plain_port} to https", flush=True)
        service = app[SERVICE]
        public = settings.public_url or ""
        if settings.create_demo:
            created = await ensure_demo(service, public)
            if created is not None:
                print(f"Created the demo ceremony {created.ceremony}.", flush=True)
                if links_file is not None:
                    await asyncio.to_thread(_write_links, links_file, _links_text(created))
                    print(f"  Its host and operator links are in {links_file} (mode 0600).", flush=True)
                else:
                    print(_links_text(created), end="", flush=True)
                print("  (Shown once: only their hashes are stored.)", flush=True)
        for state in service.ceremonies():
            print(f"Ceremony {state.id} [{state.phase.value}] {state.definition.title.en}", flush=True)
        where = f"--data {settings.data_dir}" if settings.store is None else f"--store {settings.store_url.shown}"
        print(f"New links: ceremony invite CEREMONY_ID host {where}", flush=True)
        _settle_heap()
        print(f"Serving on {public}", flush=True)
        await stop.wait()
    finally:
        for each in reversed(runners):
            await each.cleanup()


# Collections (CPython's defaults: 700, 10, 10): the youngest after 5,000 net allocations, the
# middle one after 3 of those, a full one after 30 middle ones (and CPython's own rule that a
# quarter of the oldest generation is new). docs/benchmarks.md, issue 15, for the measurements.
COLLECTION_THRESHOLDS = (5_000, 3, 30)


def _settle_heap() -> None:
    """Take what start-up built out of the garbage collector's sight, and collect the young less often.

    Full collections stop every socket at once; they were the signaling latency tail
    (docs/benchmarks.md, issue 15):
    - Modules, templates and every ceremony's state replayed from the log live as long as the
      server. Left in the oldest generation, each full collection walked them all again
      (120-200 ms with 100-500 ceremonies). Frozen, they are still freed by reference counting
      when dropped; only a reference cycle among them would stay, and start-up's objects are
      not garbage.
    - A full collection comes once enough objects survived the younger two. Under signaling
      load, what survives is mostly in flight (a socket's read waiting, a message being sent).
      With young collections seven times less often, fewer of those are promoted, and a full
      collection (150 ms with 2,000 sockets) needs 450,000 net allocations, not 70,000. The middle
      generation is collected after every 3 young collections, so that a burst of new
      sockets is walked in small steps (after every 10 young ones of 10,000, one took 66 ms).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTION_THRESHOLDS)
    logging.getLogger(__name__).info("start-up heap settled: %d objects frozen", gc.get_freeze_count())


def _links_text(created: DemoCreated) -> str:
    return f"  Host link:     {created.host_link}\n  Operator link: {created.operator_link}\n"


def _write_links(path: Path, text: str) -> None:
    """`text` into `path`, readable by its owner alone, whole or not at all (a new file renamed over it)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600, never an old file
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


async def _invite(args: argparse.Namespace) -> int:
    url = cli_store.store_url(args)
    if not CEREMONY_ID_PATTERN.match(args.ceremony):
        raise CeremonyError(f"'{args.ceremony}' is not a ceremony id (16 hex digits)")
    from .settings import utc_clock  # with the server's modules: not for `verify`

    service, _ = await asyncio.to_thread(open_service, url, clock=utc_clock)
    try:
        issued = await service.issue_link(
            args.ceremony, Role(args.role), "cli", venue=args.venue, signatory=args.signatory, label=args.label
        )
    finally:
        await service.close()
    from .links import link_for  # with the app's modules: not for `verify`

    print(link_for(args.base_url, args.ceremony, issued.token))
    return 0


async def _operator_link(args: argparse.Namespace) -> int:
    from .settings import utc_clock

    service, _ = await asyncio.to_thread(open_service, cli_store.store_url(args, must_exist=False), clock=utc_clock)
    try:
        if args.revoke_all:
            count = await service.revoke_operator_links()
            print(f"revoked {count} operator link(s); issue a new one with `ceremony operator-link`")
            return 0
        token = await service.issue_operator_link()
    finally:
        await service.close()
    from .links import operator_link

    print(operator_link(args.base_url, token))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo.rehearsal import run_demo  # aiortc loads only for this command
    from .demo.scripted import ScriptError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    data = args.data if args.data is not None else Path(tempfile.mkdtemp(prefix="ceremony-demo-"))
    data.mkdir(parents=True, exist_ok=True)
    try:
        result = asyncio.run(run_demo(data, sys.stdout))
    except ScriptError as exc:
        print(f"ceremony demo: {exc} (data kept in {data})", file=sys.stderr)
        return 1
    print(f"Record: {result.record}")
    print(f"Verify it again any time: ceremony verify {result.record} --trust {data / 'pki' / 'root.pem'}")
    if result.media is not None:
        print(f"Its recording: ceremony verify {result.record} --trust … --media {result.media}")
    print(f"{'VALID' if result.ok else 'NOT VALID'} ({result.seconds:.1f} s)")
    return 0 if result.ok else 1


def _venue_bot(args: argparse.Namespace) -> int:
    from signaling.bots.venue_bot import venue_bot_command  # aiortc loads only for this command

    return venue_bot_command(
        args.link, play=args.play, duration=args.duration, relay_only=args.relay_only, verbose=args.verbose
    )


if __name__ == "__main__":
    raise SystemExit(main())
