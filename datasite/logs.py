"""Site-local logging: details and tracebacks stay in DATA_DIR/logs, never reach a researcher."""

from __future__ import annotations

import io
import logging
import re
import sys
from pathlib import Path
from typing import TextIO

_URL_PASSWORD = re.compile(r"(\w+://[^:/@\s]+:)([^@\s]+)(@)")
_PASSWORD_FIELD = re.compile(
    r"((?:password|private_key|signing_key)['\"]?\s*[:=]\s*['\"]?)([^'\",\s}]+)"
)


def redact(text: str) -> str:
    """Hide passwords in URLs and password-like fields (syft logs its db url at start)."""
    text = _URL_PASSWORD.sub(r"\1***\3", text)
    return _PASSWORD_FIELD.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingStream(io.TextIOBase):
    """A stdout/stderr stand-in that redacts secrets: syft prints its db url with password."""

    def __init__(self, inner: TextIO) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()


def redact_std_streams() -> None:
    if not isinstance(sys.stdout, RedactingStream):
        sys.stdout = RedactingStream(sys.stdout)
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = RedactingStream(sys.stderr)


def configure_site_logging(log_dir: Path, verbose: bool = False) -> Path:
    """Log to DATA_DIR/logs/datasite.log (and stderr) with secrets redacted."""
    log_dir.mkdir(parents=True, exist_ok=True)
    redact_std_streams()
    log_file = log_dir / "datasite.log"
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.FileHandler(log_file), logging.StreamHandler()]
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        logging.getLogger().addHandler(handler)
    for name in ("datasite", "uvicorn", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)
    # syft logs exceptions from approved user code here; keep them (locally).
    logging.getLogger("syft.service.code.user_code").setLevel(logging.INFO)
    return log_file
