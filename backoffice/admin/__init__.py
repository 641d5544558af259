"""The staff admin: every screen that acts through the back office's services, in one app.

The apps below keep only screens that need nothing above them (``merchants``, ``ledger``, ``events``,
``gateways``); the screens for payments, payouts, reconciliation and the audit trail live here because their
buttons call ``backoffice.services`` and check the staff permissions. Django's admin autodiscovery
imports this package, which registers them all.
"""

from backoffice.admin import audit, payments, payouts, reconciliation, staff_records  # noqa: F401  (registers them)
