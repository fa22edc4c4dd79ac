"""Errors the hospital-side tools raise; each message says what failed and what to do."""

from fedcommon.errors import PlatformError
from fedcommon.exitcodes import DatasiteExit


class DatasiteError(PlatformError):
    """Base of every hospital-side error."""

    exit_codes = DatasiteExit
    exit_code = DatasiteExit.CONFIG


class ConfigError(DatasiteError):
    """A setting (flag or environment variable) is missing or unsafe."""

    exit_code = DatasiteExit.CONFIG


class PortInUseError(DatasiteError):
    exit_code = DatasiteExit.PORT_IN_USE


class DataDirError(DatasiteError):
    exit_code = DatasiteExit.DATA_DIR


class SiteUnreachableError(DatasiteError):
    exit_code = DatasiteExit.UNREACHABLE


class AuthError(DatasiteError):
    """Wrong email or password, or the account lacks the role the action needs."""

    exit_code = DatasiteExit.AUTH


class DuplicateUserError(DatasiteError):
    exit_code = DatasiteExit.DUPLICATE_USER


class NotFoundError(DatasiteError):
    exit_code = DatasiteExit.NOT_FOUND
