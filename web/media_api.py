"""record-media.zip for archivists, and deletion per `--media-retention`.

The recorded media travels beside the record, not in it (record.zip stays small): an
archivist downloads `GET /api/ceremonies/{id}/record-media`, a zip of every segment the
sealed evidence names, and checks it with `ceremony verify RECORD.zip --media FILE`.
After the retention period the segments are deleted; the record keeps its manifest, and
the zip then holds only MEDIA-DELETED.json, which verify reports as "media deleted per
retention".
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from ceremony.events import Role
from ceremony.runtime.service import CeremonyService
from ceremony.state import Phase
from signatures.record.evidence import recording_manifest
from signatures.record.media_package import build_media_zip, delete_media

from .appkeys import SETTINGS
from .auth import ceremony_state, require
from .errors import Conflict, NotRecorded
from .recording import media_root

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MEDIA_ROLES = (Role.ARCHIVIST, Role.HOST)
_building: dict[str, asyncio.Lock] = {}


def package_path(data_dir: Path, ceremony: str) -> Path:
    """Beside the media folder, not in it: retention deletes the folder's segments and this file."""
    return data_dir / "media" / f"{ceremony}-record-media.zip"


@routes.get("/api/ceremonies/{ceremony}/record-media")
async def download_media(request: web.Request) -> web.StreamResponse:
    require(request, MEDIA_ROLES, operator=True)
    state = ceremony_state(request)
    if not state.definition.recording:
        raise NotRecorded("this ceremony was not recorded")
    if state.phase is not Phase.SEALED:
        raise Conflict("the recording is packed for archivists once the ceremony is sealed")
    data_dir = request.app[SETTINGS].data_dir
    out = package_path(data_dir, state.id)
    async with _building.setdefault(state.id, asyncio.Lock()):
        if not out.is_file():
            manifest = recording_manifest(state.recording)
            package = await asyncio.to_thread(build_media_zip, manifest, media_root(data_dir, state.id), out)
            if package.missing:
                log.error("ceremony %s: %d recorded segments are missing on disk", state.id, len(package.missing))
    return web.FileResponse(
        out,
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="ceremony-{state.id}-record-media.zip"',
            "Cache-Control": "no-store",
        },
    )


async def sweep_retention(service: CeremonyService, data_dir: Path, days: int, now: datetime) -> list[str]:
    """Delete the media of every ceremony sealed more than `days` before `now`; the ceremonies it did."""
    done = []
    for state in service.ceremonies():
        if state.sealed_at is None or not state.definition.recording or now - state.sealed_at < timedelta(days=days):
            continue
        root = media_root(data_dir, state.id)
        if not root.is_dir() or not _has_media(root):
            continue
        await asyncio.to_thread(delete_media, root, now=now, policy=f"deleted {days} days after the seal")
        package_path(data_dir, state.id).unlink(missing_ok=True)  # rebuilt on demand, tombstone only
        log.info("deleted the recorded media of %s per retention (%d days)", state.id, days)
        done.append(state.id)
    return done


def _has_media(root: Path) -> bool:
    return any(p.is_file() for track in root.iterdir() if track.is_dir() for p in track.iterdir())
