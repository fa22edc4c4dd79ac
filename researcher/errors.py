"""Errors of the researcher side; each message says what failed and what to do next."""

from enum import StrEnum

from fedcommon.errors import PlatformError
from fedcommon.exitcodes import ResearcherExit


class CallFailure(StrEnum):
    """Why a call to a site failed: the coordinator decides on this code, never on text."""

    DENIED = "denied"  # the admin denied the request (permanent for the run)
    REVOKED = "revoked"  # the admin withdrew an approval (permanent)
    USED_UP = "used_up"  # the approved executions are used up (permanent)
    PRIVACY_SPENT = "privacy_spent"  # the site's privacy ledger refuses more training (permanent)
    PENDING = "pending"  # not approved yet
    NOT_SUBMITTED = "not_submitted"
    FAILED_AT_SITE = "failed_at_site"  # the function raised at the site
    INPUTS_MISMATCH = "inputs_mismatch"
    TIMEOUT = "timeout"
    INVALID_REPLY = "invalid_reply"
    OTHER = "other"

    @property
    def permanent(self) -> bool:
        """Whether retrying in a later round of the same run cannot help."""
        return self in (
            CallFailure.DENIED,
            CallFailure.REVOKED,
            CallFailure.USED_UP,
            CallFailure.PRIVACY_SPENT,
        )


class ResearcherError(PlatformError):
    """Base of every researcher-side error."""

    exit_codes = ResearcherExit
    exit_code = ResearcherExit.CONFIG


class ConfigError(ResearcherError):
    """A sites or experiment file, or a credential variable, is missing or invalid."""

    exit_code = ResearcherExit.CONFIG


class SiteUnreachableError(ResearcherError):
    exit_code = ResearcherExit.UNREACHABLE


class AuthError(ResearcherError):
    exit_code = ResearcherExit.AUTH


class NotFoundError(ResearcherError):
    """A dataset, asset or code request the researcher named does not exist at a site."""

    exit_code = ResearcherExit.NOT_FOUND


class SiteCallError(ResearcherError):
    """A call to one site failed; ``reason`` is short and safe to show (no site traceback)."""

    exit_code = ResearcherExit.SITE_CALL

    def __init__(self, site: str, reason: str, code: CallFailure = CallFailure.OTHER) -> None:
        super().__init__(f"{site}: {reason}")
        self.site = site
        self.reason = reason
        self.code = code


class SubmissionError(ResearcherError):
    """The local dry run on mock data failed, or a site refused the code request."""

    exit_code = ResearcherExit.SUBMISSION


class TrainingError(ResearcherError):
    """Training cannot go on: too few sites left, or the output folder holds another run."""

    exit_code = ResearcherExit.TRAINING


class TaskError(SubmissionError):
    """A site task that cannot be loaded, or that breaks the contract (researcher.task)."""
