"""First start: the demo ceremony and an operator link."""

from __future__ import annotations

from dataclasses import dataclass

from ceremony.events import Role
from ceremony.runtime.service import CeremonyService
from web.demo.definition import demo_definition

from ..links import link_for, operator_link


@dataclass(frozen=True, slots=True)
class DemoCreated:
    ceremony: str
    host_link: str
    operator_link: str


async def ensure_demo(service: CeremonyService, base_url: str) -> DemoCreated | None:
    """Create the Gangwon-Nanjing demo on an empty store; None if any ceremony exists.

    The links are returned to be printed once; only their hashes are kept.
    """
    if service.ceremonies():
        return None
    state = await service.create(demo_definition(), "operator")
    issued = await service.issue_link(state.id, Role.HOST, "operator", label="demo host")
    op_token = await service.issue_operator_link()
    return DemoCreated(
        ceremony=state.id,
        host_link=link_for(base_url, state.id, issued.token),
        operator_link=operator_link(base_url, op_token),
    )
