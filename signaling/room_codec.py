"""A room's sessions as text, for the bus (several nodes), without I/O.

The node that hosts a ceremony's room writes its members down a few times a second (relay.py);
when that node dies, the node that takes the room over reads them back, so that every socket
can resume its session there. What a session needs to resume is its identity (peer, session,
link, hall), what the room knows of it (admitted, media state) and its outbox: the sequenced
messages it may not have seen, kept as their wire text.

Whatever the old node sent after its last write is not in the copy: a client may have seen
a few messages more than the restored session knows of. The session remembers where the copy
ended (`restored_seq`), and its first resume numbers what is new after what the client says it
saw (room.Room.join), so the client neither takes new messages for repeats nor waits for a gap.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from typing import Any

from ceremony.events import Role
from ceremony.model import LocalizedText

from .protocol import MediaState, seq_of
from .room import OUTBOX_LIMIT, Member


def member_text(member: Member) -> str:
    """A member's identity and standing (not its outbox), as the bus keeps it."""
    media = member.media_state
    return json.dumps(
        {
            "peer": member.peer,
            "session": member.session,
            "role": member.role.value,
            "invitation": member.invitation,
            "venue": member.venue,
            "name": member.name.as_dict(),
            "admitted": member.admitted,
            "next_seq": member.next_seq,
            "overflowed": member.overflowed,
            "left_announced": member.left_announced,
            "media": None if media is None else {"audio": media.audio, "video": media.video},
        },
        separators=(",", ":"),
    )


def standing(member: Member) -> tuple[object, ...]:
    """What changes in `member_text` (cheap to compare: a member is written again only when it changed),
    and how often its outbox was renumbered (its copy on the bus is then written again whole)."""
    return (
        member.next_seq,
        member.admitted,
        member.overflowed,
        member.left_announced,
        member.media_state,
        member.renumbered,
    )


def renumbered(before: tuple[object, ...] | None, member: Member) -> bool:
    """Whether the member's outbox was renumbered since `before` (its copy on the bus must be rewritten whole)."""
    return before is not None and before[-1] != member.renumbered


def member_from(text: str, outbox: Iterable[str], now: float) -> Member:
    """A session as another node kept it, disconnected since `now`."""
    fields: dict[str, Any] = json.loads(text)
    kept: deque[str] = deque(outbox, maxlen=OUTBOX_LIMIT)
    last = max([int(fields["next_seq"]) - 1, *map(seq_of, kept)])
    media = fields["media"]
    return Member(
        peer=fields["peer"],
        session=fields["session"],
        role=Role(fields["role"]),
        invitation=fields["invitation"],
        venue=fields["venue"],
        name=LocalizedText(ko=fields["name"]["ko"], zh=fields["name"]["zh"], en=fields["name"]["en"]),
        admitted=bool(fields["admitted"]),
        connected=False,
        last_heard=now,
        disconnected_at=now,
        next_seq=last + 1,
        restored_seq=last,
        outbox=kept,
        overflowed=bool(fields["overflowed"]),
        left_announced=bool(fields["left_announced"]),
        media_state=None if media is None else MediaState(audio=bool(media["audio"]), video=bool(media["video"])),
    )
