"""The site's privacy budget: an epsilon ledger per dataset that the hospital owns.

No syft here: :mod:`datasite.privacy.ledger` is plain SQLite in the site's data dir; the
server process calls it from ``datasite.syftio.server`` when it approves and runs requests.
"""

from datasite.privacy.ledger import BudgetError, DatasetLedger, Ledger, RequestShare, Spend

__all__ = ["BudgetError", "DatasetLedger", "Ledger", "RequestShare", "Spend"]
