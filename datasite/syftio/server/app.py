"""Build and run the datasite process: a syft 0.9.5 Datasite behind uvicorn.

Mirrors ``syft.server.uvicorn.app_factory`` but with the site's stable identity, its own data
dir, dev mode off, no CORS, our 0.9.5 fixes applied, and the site API mounted at ``/site``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from datasite.config import AdminCredentials, SiteSettings
from datasite.identity import SiteIdentity
from datasite.syftio.server.afterreply import AfterReply

log = logging.getLogger(__name__)


def build_worker(settings: SiteSettings, identity: SiteIdentity, admin: AdminCredentials) -> Any:
    """Create the syft Datasite object that owns the store (slow: imports syft)."""
    # Blob store and any syft temp files go under the data dir; read while the Datasite is
    # built, then removed: no data-dir path stays in the environment.
    os.environ["SYFT_TEMP_ROOT"] = str(settings.state_dir)
    from datasite.syftio.server import patches, sealed

    sealed.configure(settings.data_dir, settings.log_dir, settings.sandbox,
                     settings.unsafe_in_process)  # fmt: skip

    def make_worker() -> Any:  # syft is imported here, after the import-stage patches
        from syft.server.credentials import SyftSigningKey
        from syft.server.datasite import Datasite
        from syft.types.uid import UID

        return Datasite(
            name=settings.name,
            id=UID(identity.server_uid),
            signing_key=SyftSigningKey.from_string(identity.signing_key),
            db_url=settings.effective_db_url,
            root_email=admin.email,
            root_username="Site admin",
            root_password=admin.password,
            reset=False,
            dev_mode=False,
            deployment_type="remote",
            log_level=logging.WARNING,
        )

    # Only the tests that prove a patch is needed set this (never in deployment).
    skip = os.environ.get("DATASITE_UNSAFE_SKIP_FIXES", "")
    runtime = patches.install(
        make_worker, settings.audit_dir, frozenset(filter(None, skip.split(",")))
    )
    os.environ.pop("SYFT_TEMP_ROOT", None)
    from datasite.syftio.server import requests as request_facts

    request_facts.use_code_environment(settings.data_dir)
    return runtime.worker


def build_app(settings: SiteSettings, worker: Any) -> FastAPI:
    from syft.server.routes import make_routes

    from datasite.syftio.server import sealed, startup
    from datasite.syftio.server.routes import make_site_router

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("datasite %s ready on http://%s:%d", settings.name, settings.host, settings.port)
        startup.finish_start_in_background()  # torch, if the fast start left it; the heap
        sealed.warm_up()
        try:
            yield
        finally:
            log.info("datasite %s stopping", settings.name)
            sealed.shutdown()
            worker.stop()

    app = FastAPI(title=settings.name, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(AfterReply)  # background work a call starts waits for its reply
    app.include_router(make_routes(worker=worker), prefix="/api/v2")
    app.include_router(make_site_router(worker, settings), prefix="/site")
    return app


def serve(settings: SiteSettings, identity: SiteIdentity, admin: AdminCredentials) -> None:
    """Run until SIGINT/SIGTERM; uvicorn stops the server cleanly on either."""
    worker = build_worker(settings, identity, admin)
    app = build_app(settings, worker)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        log_config=None,
    )
