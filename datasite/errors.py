"""Errors the hospital-side tools raise; each message says what failed and what to do."""

from fedcommon.errors import PlatformError


class DatasiteError(PlatformError):
    """Base of every hospital-side error."""


class ConfigError(DatasiteError):
    """A setting (flag or environment variable) is missing or unsafe."""

    exit_code = 2


class PortInUseError(DatasiteError):
    exit_code = 3


class DataDirError(DatasiteError):
    exit_code = 4


class SiteUnreachableError(DatasiteError):
    exit_code = 5


class AuthError(DatasiteError):
    """Wrong email or password, or the account lacks the role the action needs."""

    exit_code = 6


class DuplicateUserError(DatasiteError):
    exit_code = 7


class NotFoundError(DatasiteError):
    exit_code = 8
