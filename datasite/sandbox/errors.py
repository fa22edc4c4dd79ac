"""Errors of the sealed worker and its egress policy."""

from datasite.errors import DatasiteError
from fedcommon.exitcodes import DatasiteExit


class SandboxError(DatasiteError):
    """Base of every sandbox error."""


class SandboxUnavailable(SandboxError):
    """No sealed worker can start on this machine; the site refuses to run researcher code."""

    exit_code = DatasiteExit.SANDBOX_UNAVAILABLE
