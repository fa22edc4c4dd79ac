"""The base of every error a user of the platform can act on."""


class PlatformError(Exception):
    """An error with a message meant for a person: what failed and what to do next.

    ``exit_code`` is what a command-line tool exits with when this error stops it.
    """

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
