"""Pull labelled images from a PACS over DICOMweb into a local folder, resumably.

QIDO-RS lists studies and their instances; WADO-RS fetches each labelled instance (any
transfer syntax, as stored). Files land in ``CACHE/<StudyInstanceUID>/<SOPInstanceUID>.dcm``,
written to ``.part`` first and renamed when complete, so a file present is whole and a re-run
after an interruption fetches only what is missing. The folder then goes through the same
de-identification, gates, mock twins and report as any export. Labels are keyed by
``StudyInstanceUID`` (every image of the study) or ``SOPInstanceUID`` (one image).

The cache holds identifiable source files: it is created mode 700 and stays at the site.
Basic auth comes from ``DATASITE_DICOMWEB_USER`` / ``DATASITE_DICOMWEB_PASSWORD`` if set.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from datasite.ingest.labels import LabelTable
from datasite.ingest.records import FileRecord, PacsError, RejectReason, Status

log = logging.getLogger(__name__)
PAGE = 500
DICOM_JSON = "application/dicom+json"
WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
USER_ENV, PASSWORD_ENV = "DATASITE_DICOMWEB_USER", "DATASITE_DICOMWEB_PASSWORD"
STUDY, SERIES, SOP = "0020000D", "0020000E", "00080018"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Instance:
    study: str
    series: str
    sop: str

    @property
    def rel(self) -> str:
        return f"{self.study}/{self.sop}.dcm"


@dataclass
class Pulled:
    labels: LabelTable  # keyed by the cached files' relative paths
    records: list[FileRecord]  # instances listed but not fetched (unlabelled, failed)
    fetched: int  # fetched in this run
    cached: int  # already in the cache from an earlier (perhaps interrupted) run


def _value(item: dict[str, Any], tag: str) -> str:
    values = item.get(tag, {}).get("Value") or [""]
    return str(values[0])


class DicomWeb:
    """A QIDO-RS / WADO-RS client; every network failure becomes a PacsError."""

    def __init__(self, url: str, client: httpx.Client | None = None, max_bytes: int = 0) -> None:
        self.url = url.rstrip("/")
        auth = (
            (os.environ[USER_ENV], os.environ.get(PASSWORD_ENV, ""))
            if USER_ENV in os.environ
            else None
        )
        self.client = client or httpx.Client(timeout=60.0, auth=auth)
        self.max_bytes = max_bytes

    def _json(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            response = self.client.get(f"{self.url}{path}", params=params,
                                       headers={"Accept": DICOM_JSON})  # fmt: skip
        except httpx.HTTPError as err:
            raise PacsError(
                f"DICOMweb server {self.url} unreachable ({err}); check --dicomweb."
            ) from None
        if response.status_code == 204:
            return []
        if response.status_code != 200:
            raise PacsError(
                f"DICOMweb server {self.url} answered {response.status_code} to QIDO-RS {path}; "
                "check --dicomweb (it is the DICOMweb root, e.g. http://pacs:8042/dicom-web)."
            )
        found: list[dict[str, Any]] = response.json()
        return found

    def studies(self) -> list[str]:
        found, offset = [], 0
        while True:
            page = self._json("/studies", {"limit": PAGE, "offset": offset, "includefield": STUDY})
            found += [_value(item, STUDY) for item in page]
            if len(page) < PAGE:
                return sorted(set(found) - {""})
            offset += PAGE

    def instances(self, study: str) -> list[Instance]:
        page = self._json(f"/studies/{study}/instances", {"includefield": f"{SERIES},{SOP}"})
        found = {Instance(study, _value(i, SERIES), _value(i, SOP)) for i in page}
        return sorted((i for i in found if i.sop and i.series), key=lambda i: i.rel)

    def fetch(self, instance: Instance, dest: Path) -> None:
        """WADO-RS retrieve one instance into ``dest`` (complete or not at all)."""
        path = f"/studies/{instance.study}/series/{instance.series}/instances/{instance.sop}"
        part = dest.with_suffix(".part")
        try:
            with self.client.stream(
                "GET", f"{self.url}{path}", headers={"Accept": WADO_ACCEPT}
            ) as response:
                if response.status_code != 200:
                    raise FetchFailed(f"HTTP {response.status_code}")
                body = self._read_capped(response)
                content_type = response.headers.get("content-type", "")
        except httpx.HTTPError as err:
            raise PacsError(
                f"DICOMweb server {self.url} failed during a fetch ({err}); run the same "
                "command again to resume where it stopped."
            ) from None
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        part.write_bytes(first_part(body, content_type))
        part.replace(dest)

    def _read_capped(self, response: httpx.Response) -> bytes:
        chunks, total = [], 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if self.max_bytes and total > self.max_bytes:
                raise FetchFailed(f"over {self.max_bytes:,} bytes", RejectReason.TOO_LARGE)
            chunks.append(chunk)
        return b"".join(chunks)


class FetchFailed(Exception):
    def __init__(self, detail: str, reason: RejectReason = RejectReason.FETCH_FAILED) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def first_part(body: bytes, content_type: str) -> bytes:
    """The first body part of a ``multipart/related`` answer (or the body itself)."""
    if "multipart" not in content_type.lower():
        return body
    params = dict(p.strip().split("=", 1) for p in content_type.split(";")[1:] if "=" in p)
    boundary = params.get("boundary", "").strip('"').encode()
    if not boundary:
        raise FetchFailed("multipart answer without a boundary")
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        _, _, content = chunk.partition(b"\r\n\r\n")
        return content[:-2] if content.endswith(b"\r\n") else content
    raise FetchFailed("multipart answer without a part")


def _wanted(web: DicomWeb, labels: LabelTable) -> Iterator[tuple[Instance, int | None]]:
    """Every instance listed on the server with its label (None: unlabelled)."""
    by_study = labels.key_column == "StudyInstanceUID"
    studies = sorted(labels.by_key) if by_study else web.studies()
    for study in studies:
        for instance in web.instances(study):
            key = instance.study if by_study else instance.sop
            yield instance, labels.by_key.get(key)


def pull(
    web: DicomWeb, labels: LabelTable, cache: Path, progress: Progress | None = None
) -> Pulled:
    """Fetch every labelled instance not yet in ``cache``; unlabelled ones are only listed."""
    if labels.key_column == "file":
        raise PacsError(
            "Labels for --dicomweb are keyed by StudyInstanceUID or SOPInstanceUID; the labels "
            "file's key column is 'file'. Rename it to the UID it holds."
        )
    cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    listed = list(_wanted(web, labels))
    todo = [(i, y) for i, y in listed if y is not None]
    records = [
        FileRecord(i.rel, Status.REJECTED, RejectReason.MISSING_LABEL)
        for i, y in listed
        if y is None
    ]
    by_file: dict[str, int] = {}
    fetched = cached = 0
    for done, (instance, label) in enumerate(todo, start=1):
        dest = cache / instance.rel
        try:
            if dest.exists():
                cached += 1
            else:
                web.fetch(instance, dest)
                fetched += 1
            by_file[instance.rel] = int(label)  # type: ignore[arg-type]
        except FetchFailed as failed:
            log.warning("fetch of %s failed: %s", instance.rel, failed.detail)
            records.append(FileRecord(instance.rel, Status.REJECTED, failed.reason, failed.detail))
        if progress:
            progress(done, len(todo))
    matched = {i.study for i, _ in todo} | {i.sop for i, _ in todo}
    by_file |= {key: label for key, label in labels.by_key.items() if key not in matched}
    table = LabelTable(by_file, labels.class_names, "file", labels.declared)
    return Pulled(table, records, fetched, cached)


def default_cache(url: str) -> Path:
    """``~/.cache/datasite/dicomweb/<hash of the URL>``: one resumable cache per server."""
    digest = hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:12]
    return Path("~/.cache/datasite/dicomweb").expanduser() / digest
