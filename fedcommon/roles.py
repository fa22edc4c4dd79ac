"""Platform roles and how each maps onto syft 0.9.5's roles.

syft 0.9.5 has GUEST, DATA_SCIENTIST, DATA_OWNER and ADMIN and no read-only role. We map:

- ``researcher`` -> DATA_SCIENTIST: sees mock data, submits code requests.
- ``compliance`` -> GUEST: can log in but cannot submit code, approve, or read any asset's
  private data; our own site API (``/site/...``) grants it read access to the audit log and
  request history. Self sign-up stays disabled, so every GUEST is one an admin created.
- ``admin`` -> ADMIN (the hospital's data owner): reviews, approves, denies.
"""

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    RESEARCHER = "researcher"
    COMPLIANCE = "compliance"


SYFT_ROLE_FOR = {
    Role.ADMIN: "ADMIN",
    Role.RESEARCHER: "DATA_SCIENTIST",
    Role.COMPLIANCE: "GUEST",
}

ROLE_FOR_SYFT = {
    "ADMIN": Role.ADMIN,
    "DATA_OWNER": Role.ADMIN,
    "DATA_SCIENTIST": Role.RESEARCHER,
    "GUEST": Role.COMPLIANCE,
}

ASSIGNABLE_ROLES = (Role.RESEARCHER, Role.COMPLIANCE)
