"""Exit codes: one table per command-line family, each code with one meaning.

Every error class names the table it belongs to (``PlatformError.exit_codes``) and its code
is checked against that table when the class is created, so a code cannot drift into two
meanings. The README's "Exit codes" section lists these tables.
"""

from __future__ import annotations

from enum import IntEnum, unique


@unique
class DatasiteExit(IntEnum):
    """``datasite ...``"""

    OK = 0
    DRY_RUN_FAILED = 1  # ``requests dry-run``: the code failed on the mock data
    CONFIG = 2  # a flag, environment variable or file is missing, malformed or unsafe
    PORT_IN_USE = 3
    DATA_DIR = 4  # not writable, or it belongs to another site
    UNREACHABLE = 5
    AUTH = 6  # wrong credentials, or the account lacks the role
    DUPLICATE_USER = 7
    NOT_FOUND = 8
    AUDIT = 9  # the audit log cannot be written, or its chain does not verify
    SOME_FILES_REJECTED = 10  # ``ingest``: uploaded, but some files were rejected
    INGEST_IMPOSSIBLE = 11  # ``ingest``: bad labels file, nothing accepted, bad options
    DATASET_EXISTS = 12
    PHI_FOUND = 13  # ``ingest --verify``: nothing was uploaded
    REVIEW = 14  # the request's code cannot be reviewed (it does not parse)
    PACS_UNREACHABLE = 15  # ``ingest --dicomweb``: server unreachable or refusing; re-run resumes
    SANDBOX_UNAVAILABLE = 16  # no sealed worker can start here (install bubblewrap)
    PRIVACY_BUDGET = 17  # a dataset's epsilon budget refuses (``privacy set``, approval)


@unique
class ResearcherExit(IntEnum):
    """``researcher ...``"""

    OK = 0
    CONFIG = 2
    UNREACHABLE = 5  # also: some site did not answer (``datasets``, ``status``)
    AUTH = 6
    NOT_FOUND = 8
    SITE_CALL = 9
    SUBMISSION = 10
    TRAINING = 11
