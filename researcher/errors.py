"""Errors of the researcher side; each message says what failed and what to do next."""

from fedcommon.errors import PlatformError


class ResearcherError(PlatformError):
    """Base of every researcher-side error."""


class ConfigError(ResearcherError):
    """A sites or experiment file, or a credential variable, is missing or invalid."""

    exit_code = 2


class SiteUnreachableError(ResearcherError):
    exit_code = 5


class AuthError(ResearcherError):
    exit_code = 6


class NotFoundError(ResearcherError):
    """A dataset, asset or code request the researcher named does not exist at a site."""

    exit_code = 8


class SiteCallError(ResearcherError):
    """A call to one site failed; ``reason`` is short and safe to show (no site traceback)."""

    exit_code = 9

    def __init__(self, site: str, reason: str) -> None:
        super().__init__(f"{site}: {reason}")
        self.site = site
        self.reason = reason


class SubmissionError(ResearcherError):
    """The local dry run on mock data failed, or a site refused the code request."""

    exit_code = 10


class TrainingError(ResearcherError):
    """Training cannot go on: too few sites left, or the output folder holds another run."""

    exit_code = 11


class TaskError(SubmissionError):
    """A site task that cannot be loaded, or that breaks the contract (researcher.task)."""
