"""The base of every error a user of the platform can act on."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class PlatformError(Exception):
    """An error with a message meant for a person: what failed and what to do next.

    ``exit_code`` is what a command-line tool exits with when this error stops it. A family
    that sets ``exit_codes`` (a table from :mod:`fedcommon.exitcodes`) has every subclass's
    code checked against it when the subclass is created.
    """

    exit_code: ClassVar[int] = 1
    exit_codes: ClassVar[type[IntEnum] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table = cls.exit_codes
        if table is not None and cls.exit_code not in {int(code) for code in table}:
            raise TypeError(
                f"{cls.__name__}.exit_code = {cls.exit_code} is not in {table.__name__}; "
                "add it there (one meaning per code)."
            )

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
