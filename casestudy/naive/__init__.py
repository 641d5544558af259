"""The naive design of the case study, as real code: what the platform deliberately does not do.

- ``POST /casestudy/naive/payments`` creates and charges a payment in one call. It calls the sandbox processor
  directly, through the same adapter and HTTP stack as the platform (``gateways.registry``), with no
  idempotency: the sandbox requires an ``Idempotency-Key`` header, so every call sends a fresh one, which is the
  same as sending none. A client that retries after a timeout charges the customer again.
- The merchant's balance is a column updated in place (``balance = balance + net``), written after the
  processor answered: a crash between the charge and the write loses the payment and the balance drifts.
- The merchant's webhook is sent inline, inside the transaction, before it commits: a rollback after it
  leaves an event about a payment that does not exist, a crash before it loses the event, and nothing is
  ever sent again.

Only the case-study run mounts it (``CASESTUDY_NAIVE_ENABLED``); production's URLconf never includes it
(tests/casestudy/test_naive_urls.py). It holds card tokens only, never a card number.
"""
