"""Work a request starts that must wait until its reply has been sent.

A request's handler runs in a worker thread and holds the interpreter lock while it signs
and serializes its reply. Background work it starts at once (the pruning of earlier results)
competes with that for the lock: signing a ~120 KB training reply took 22-48 ms with the
pruning thread running beside it, 7-15 ms once pruning waited for the reply (timed in a
real site, 1 site, issue 14).
``later`` queues such work on the request; :class:`AfterReply`, an ASGI middleware, starts it
once the response has gone out. Outside a request (an in-process server, a test) it runs now.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_pending: contextvars.ContextVar[list[Callable[[], Any]] | None] = contextvars.ContextVar(
    "after_reply", default=None
)


def later(job: Callable[[], Any]) -> None:
    """Run ``job`` once the current request's reply is sent (now, outside a request).

    The handler thread sees the request's list through its copied context (anyio runs each
    sync handler in ``context.run``), so appending here reaches the middleware.
    """
    pending = _pending.get()
    if pending is None:
        job()
    else:
        pending.append(job)


class AfterReply:
    """ASGI middleware: runs the jobs a request queued with :func:`later` after its reply.

    Jobs should only hand work to a background thread: they run on the event loop.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        pending: list[Callable[[], Any]] = []
        token = _pending.set(pending)
        try:
            await self.app(scope, receive, send)
        finally:
            _pending.reset(token)
            for job in pending:
                try:
                    job()
                except Exception:
                    log.exception("work queued until after a reply failed")
