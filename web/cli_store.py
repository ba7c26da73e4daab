"""`ceremony log verify` and `ceremony store copy`: the event store from the command line, on either database."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ceremony.chain import verify_chain
from ceremony.errors import CeremonyError
from ceremony.runtime.copy import copy_store
from ceremony.runtime.stores import StoreUrl, default_store, open_backing, parse_store_url

STORE_HELP = (
    "the event store: sqlite:///PATH/ceremony.sqlite3 (the default, in --data) or postgresql://USER@HOST:PORT/DB "
    "(several nodes; a password is best left to ~/.pgpass or PGPASSWORD); or env CEREMONY_STORE"
)


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=os.environ.get("CEREMONY_STORE"), metavar="URL", help=STORE_HELP)


def store_url(args: argparse.Namespace, *, must_exist: bool = True) -> StoreUrl:
    """The store --store names, else the SQLite file in --data (which must exist for commands that read it)."""
    url = parse_store_url(args.store) if args.store else default_store(args.data)
    if must_exist and url.sqlite_file is not None and not url.sqlite_file.exists():
        raise CeremonyError(f"no event store at {url.sqlite_file}; pass --data or --store")
    return url


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], default_data: Path) -> None:
    logp = sub.add_parser("log", help="inspect the event log")
    logsub = logp.add_subparsers(dest="log_command", required=True)
    verify = logsub.add_parser("verify", help="walk every hash chain; name the first broken link")
    verify.add_argument("--data", type=Path, default=default_data)
    add_store_option(verify)

    store = sub.add_parser("store", help="move a node's data between event stores")
    storesub = store.add_subparsers(dest="store_command", required=True)
    copy = storesub.add_parser(
        "copy", help="copy every ceremony, document, record, operator link and session; chains verified on arrival"
    )
    copy.add_argument(
        "--from", dest="source", required=True, metavar="URL", help="e.g. sqlite:///data/ceremony.sqlite3"
    )
    copy.add_argument(
        "--to", dest="target", required=True, metavar="URL", help="e.g. postgresql://ceremony@db/ceremony"
    )


def run_log_verify(args: argparse.Namespace) -> int:
    backing = open_backing(store_url(args))
    failures = 0
    try:
        ceremonies = backing.store.ceremonies()
        for ceremony in ceremonies:
            report = verify_chain(ceremony, backing.store.read(ceremony))
            if report.broken is None:
                print(f"ok      {ceremony}  {report.length} events  head {report.head.hex()}")
            else:
                failures += 1
                print(f"BROKEN  {ceremony}  at event {report.broken.seq}: {report.broken.reason}")
    finally:
        backing.close()
    print(f"{len(ceremonies)} ceremonies checked, {failures} broken ({backing.url.shown})")
    return 1 if failures else 0


def run_copy(args: argparse.Namespace) -> int:
    source_url, target_url = parse_store_url(args.source), parse_store_url(args.target)
    if source_url.sqlite_file is not None and not source_url.sqlite_file.exists():
        raise CeremonyError(f"--from: no event store at {source_url.sqlite_file}")
    if source_url.text == target_url.text:
        raise CeremonyError("--from and --to name the same store")
    source = open_backing(source_url)
    try:
        target = open_backing(target_url)
        try:
            copied = copy_store(source, target, progress=print)
        finally:
            target.close()
    finally:
        source.close()
    print(
        f"copied {copied.ceremonies} ceremonies ({copied.events} events, every chain verified on arrival), "
        f"{copied.documents} documents, {copied.records} records, {copied.operator_links} operator links and "
        f"{copied.sessions} sessions from {source_url.shown} to {target_url.shown}"
    )
    return 0
