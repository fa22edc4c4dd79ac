"""Errors of the sealed worker and its egress policy."""

from datasite.errors import DatasiteError


class SandboxError(DatasiteError):
    """Base of every sandbox error."""


class SandboxUnavailable(SandboxError):
    """No sealed worker can start on this machine; the site refuses to run researcher code."""

    exit_code = 9
