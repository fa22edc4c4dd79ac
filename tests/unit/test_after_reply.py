"""Work a call queues with ``afterreply.later`` starts only once its reply has been sent.

The pruning of earlier results used to start while the request thread was still signing the
call's reply, competing with it for the interpreter lock on the round's path.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio.to_thread

from datasite.syftio.server.afterreply import AfterReply, later


def handler_app(events: list[str]) -> Any:
    """An ASGI app whose handler runs in a worker thread, as FastAPI runs syft's routes."""

    def handle() -> bytes:
        later(lambda: events.append("job"))
        events.append("handled")
        return b"reply"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = await anyio.to_thread.run_sync(handle)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_once(app: Any, events: list[str]) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        events.append(message["type"])

    asyncio.run(app({"type": "http", "method": "POST", "path": "/"}, receive, send))


def test_queued_work_runs_after_the_reply_is_sent() -> None:
    events: list[str] = []
    serve_once(AfterReply(handler_app(events)), events)
    assert events == ["handled", "http.response.start", "http.response.body", "job"]


def test_without_the_middleware_queued_work_runs_at_once() -> None:
    events: list[str] = []
    serve_once(handler_app(events), events)
    assert events == ["job", "handled", "http.response.start", "http.response.body"]


def test_a_failing_job_does_not_stop_the_others() -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        later(lambda: 1 / 0)
        later(lambda: events.append("second"))
        await send({"type": "http.response.start", "status": 200, "headers": []})

    serve_once(AfterReply(app), events)
    assert events == ["http.response.start", "second"]
