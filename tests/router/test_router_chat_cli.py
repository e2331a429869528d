"""`switchboard chat` streams a reply through a running router (the embedded
default: no backend configured, so the labelled mock answers)."""

from __future__ import annotations

import io

from router_harness import start_router
from switchboard.chat import chat
from switchboard.runtime.settings import MeshSettings


async def test_chat_streams_a_reply_through_the_router(serve, mesh_settings, tmp_path) -> None:
    router = await start_router(serve, mesh_settings, tmp_path, None)
    out, err = io.StringIO(), io.StringIO()
    settings = MeshSettings(router_address=router.running.address)
    code = await chat(settings, "hello from the terminal", out=out, err=err, timeout=10)
    assert code == 0, err.getvalue()
    assert "mock answer" in out.getvalue() and "hello from the terminal" in out.getvalue()
    assert "[mock (mock) · mock" in err.getvalue() and "tokens" in err.getvalue()
