"""The double-entry ledger: accounts, journal entries and their postings.

Money is an integer in the currency's minor unit. A posting's ``amount`` is
SIGNED: a debit is positive, a credit is negative, so the postings of a balanced
entry sum to zero (per currency and per phase) and a balance is a plain ``SUM``.
Postings are insert-only; on PostgreSQL a trigger refuses UPDATE and DELETE
(migration 0002). The full chart of accounts and every posting rule are in
``ledger/README.md``.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.ids import ID_MAX_LENGTH, new_id
from core.money import CURRENCY_CHOICES


def new_account_id() -> str:
    return new_id("acct")


def new_entry_id() -> str:
    return new_id("txn")


class AccountType(models.TextChoices):
    """Debit-normal: asset, expense. Credit-normal: liability, revenue."""

    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"


class AccountCode(models.TextChoices):
    PROCESSOR_RECEIVABLE = "processor_receivable"
    MERCHANT_PENDING = "merchant_pending"
    MERCHANT_AVAILABLE = "merchant_available"
    FEE_REVENUE = "fee_revenue"
    DISPUTE_RESERVE = "dispute_reserve"
    FX_CLEARING = "fx_clearing"
    ADJUSTMENTS = "adjustments"
    MERCHANT_PAYOUTS_IN_TRANSIT = "merchant_payouts_in_transit"


class AccountSpec:
    """What the chart of accounts says about one account code."""

    def __init__(
        self,
        *,
        type: str,
        merchant_owned: bool,
        debits_must_not_exceed_credits: bool = False,
        credits_must_not_exceed_debits: bool = False,
    ):
        self.type = type
        self.merchant_owned = merchant_owned
        self.debits_must_not_exceed_credits = debits_must_not_exceed_credits
        self.credits_must_not_exceed_debits = credits_must_not_exceed_debits


# The chart of accounts. The engine creates accounts lazily from it, one per
# (owner, code, currency). Limits only sit where the platform may refuse: money
# the processor has already moved (captures, chargebacks) is never refused.
CHART: dict[str, AccountSpec] = {
    AccountCode.PROCESSOR_RECEIVABLE: AccountSpec(type=AccountType.ASSET, merchant_owned=False),
    AccountCode.MERCHANT_PENDING: AccountSpec(
        type=AccountType.LIABILITY, merchant_owned=True, debits_must_not_exceed_credits=True
    ),
    AccountCode.MERCHANT_AVAILABLE: AccountSpec(type=AccountType.LIABILITY, merchant_owned=True),
    AccountCode.FEE_REVENUE: AccountSpec(
        type=AccountType.REVENUE, merchant_owned=False, debits_must_not_exceed_credits=True
    ),
    AccountCode.DISPUTE_RESERVE: AccountSpec(
        type=AccountType.LIABILITY, merchant_owned=True, debits_must_not_exceed_credits=True
    ),
    AccountCode.FX_CLEARING: AccountSpec(type=AccountType.ASSET, merchant_owned=False),
    AccountCode.ADJUSTMENTS: AccountSpec(type=AccountType.EXPENSE, merchant_owned=False),
    # What left the merchant's balance for a payout not paid yet (pending or in transit): still owed to the
    # merchant until the processor pays it, and given back to available if it fails or is canceled.
    AccountCode.MERCHANT_PAYOUTS_IN_TRANSIT: AccountSpec(
        type=AccountType.LIABILITY, merchant_owned=True, debits_must_not_exceed_credits=True
    ),
}

# The merchant's balance lives on these two accounts (``GET /v1/balance``).
MERCHANT_BALANCE_CODES = (AccountCode.MERCHANT_AVAILABLE, AccountCode.MERCHANT_PENDING)


class Account(models.Model):
    """A ledger account: one owner (a merchant, or the platform when ``merchant`` is null), one code, one currency.

    Balance limits follow TigerBeetle's account flags and are enforced by the
    posting engine (``ledger.services``) and proved by ``ledger_check``:

    - ``debits_must_not_exceed_credits``: pending debits + posted debits <= posted credits.
    - ``credits_must_not_exceed_debits``: pending credits + posted credits <= posted debits.
    """

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=new_account_id, editable=False)
    type = models.CharField(max_length=16, choices=AccountType.choices)
    code = models.CharField(max_length=40, choices=AccountCode.choices)
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    debits_must_not_exceed_credits = models.BooleanField(default=False)
    credits_must_not_exceed_debits = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "code", "currency"],
                condition=Q(merchant__isnull=False),
                name="ledger_account_unique_merchant_code_currency",
            ),
            models.UniqueConstraint(
                fields=["code", "currency"],
                condition=Q(merchant__isnull=True),
                name="ledger_account_unique_platform_code_currency",
            ),
            models.CheckConstraint(condition=Q(type__in=AccountType.values), name="ledger_account_type_valid"),
            models.CheckConstraint(
                condition=~(Q(debits_must_not_exceed_credits=True) & Q(credits_must_not_exceed_debits=True)),
                name="ledger_account_one_limit_at_most",
            ),
        ]

    def __str__(self) -> str:
        owner = self.merchant_id or "platform"
        return f"{self.code} {self.currency} ({owner})"

    @property
    def is_debit_normal(self) -> bool:
        return self.type in (AccountType.ASSET, AccountType.EXPENSE)


class JournalEntry(models.Model):
    """A group of postings caused by one business event, which sum to zero per currency and per phase.

    ``event_key`` is unique, so one business event (``payment.captured:pay_…``)
    is posted at most once. ``status`` is the only column that ever changes, and
    only from ``pending`` to ``posted`` or ``voided`` (the database enforces it
    on PostgreSQL). An entry that resolves a pending one points at it through
    ``pending_entry`` (unique: a pending entry is resolved at most once).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        POSTED = "posted"
        VOIDED = "voided"

    class Type(models.TextChoices):
        """The balance-transaction type (``GET /v1/balance_transactions``)."""

        CHARGE = "charge"
        REFUND = "refund"
        REFUND_RELEASE = "refund_release"
        REFUND_FAILURE = "refund_failure"
        DISPUTE = "dispute"
        DISPUTE_REVERSAL = "dispute_reversal"
        ADJUSTMENT = "adjustment"
        AUTHORIZATION = "authorization"
        AUTHORIZATION_RELEASE = "authorization_release"
        PAYMENT_RETURN = "payment_return"
        PAYOUT = "payout"
        PAYOUT_FAILURE = "payout_failure"
        PAYOUT_CANCEL = "payout_cancel"
        # Not a balance transaction: it moves a capture's funds from pending to available (nothing in total).
        FUNDS_MATURED = "funds_matured"

    id = models.CharField(primary_key=True, max_length=ID_MAX_LENGTH, default=new_entry_id, editable=False)
    event_key = models.CharField(max_length=200, unique=True)
    type = models.CharField(max_length=32, choices=Type.choices)
    source = models.CharField(max_length=ID_MAX_LENGTH, db_index=True)
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="journal_entries"
    )
    currency = models.CharField(max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(max_length=8, choices=Status.choices)
    pending_entry = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="resolution"
    )
    memo = models.CharField(max_length=500, blank=True, default="")
    created = models.DateTimeField(default=timezone.now, editable=False)
    # Of an entry that moves a merchant's posted balance (a balance transaction): when its money is (or becomes)
    # available. A capture's net waits in merchant_pending until then; everything else is available at once
    # (available_on = created). Null on entries that move no merchant's posted balance (reservations, …).
    available_on = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "journal entries"
        indexes = [
            models.Index(fields=["merchant", "-id"], name="ledger_entry_merchant_id"),
            # Reconciliation selects a day's entries by creation time.
            models.Index(fields=["created"], name="ledger_entry_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "posted", "voided"]), name="ledger_entry_status_valid"
            ),
            # An entry that resolves another is itself final.
            models.CheckConstraint(
                condition=Q(pending_entry__isnull=True) | ~Q(status="pending"),
                name="ledger_entry_resolution_not_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type} {self.source} ({self.status})"


class Posting(models.Model):
    """One line of an entry: ``amount`` minor units on one account, debit positive and credit negative.

    ``phase`` is ``pending`` for reservations (an authorisation, a refund in
    flight) and their reversals, ``posted`` for money that has moved. Insert-only.
    """

    class Phase(models.TextChoices):
        PENDING = "pending"
        POSTED = "posted"

    id = models.BigAutoField(primary_key=True)
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    # Indexed by the (account, phase, amount) index below, which also serves balance sums index-only.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings", db_index=False)
    amount = models.BigIntegerField(help_text="Minor units; debit positive, credit negative.")
    phase = models.CharField(max_length=7, choices=Phase.choices)
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["account", "phase", "amount"], name="ledger_posting_balance")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_amount_nonzero"),
            models.CheckConstraint(condition=Q(phase__in=["pending", "posted"]), name="ledger_posting_phase_valid"),
        ]

    def __str__(self) -> str:
        side = "Dr" if self.amount > 0 else "Cr"
        return f"{side} {abs(self.amount)} {self.account_id} ({self.phase})"


class MaturingFunds(models.Model):
    """A work list, not money: the entries whose pending credit has still to mature, and when.

    The engine inserts a row with every entry that credits a merchant_pending account in the posted phase
    (a capture with a delay), and deletes it with the ``funds.matured:{entry}`` entry that moves the money
    to merchant_available, in the same transactions. The money itself is only ever in postings; this table
    lets ``ledger.tasks.mature_funds`` find what is due with one index range scan instead of searching the
    history. ``ledger_check`` (``funds_mature``) proves that every unmatured pending credit has its row.
    """

    entry = models.OneToOneField(
        JournalEntry, primary_key=True, on_delete=models.PROTECT, related_name="maturing_funds"
    )
    available_on = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["available_on"]
        verbose_name = "maturing funds"
        verbose_name_plural = "maturing funds"

    def __str__(self) -> str:
        return f"{self.entry_id} matures at {self.available_on:%Y-%m-%d %H:%M:%S}"


class SettledTransaction(models.Model):
    """A balance transaction paid out by an automatic payout: Stripe's payout reconciliation, as data.

    When an automatic payout is created (``posting_rules.automatic_payout_created``), every balance transaction
    of the merchant and currency that is ``available`` and not settled yet gets a row naming the payout's own
    entry (``payout_entry``), and so does that entry itself; the payout's amount is the sum of the others' nets,
    so each group's nets sum to zero (``ledger_check``: ``payouts_settle``). ``entry`` is the primary key: a
    balance transaction is paid out by one automatic payout at most, whatever runs concurrently. Insert-only (on
    PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE, as for postings): a payout that fails or is canceled
    keeps what it settled, and the entry that gives its amount back is a new balance transaction, settled by the
    next payout.
    """

    entry = models.OneToOneField(JournalEntry, primary_key=True, on_delete=models.PROTECT, related_name="settlement")
    payout_entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="settles")

    class Meta:
        ordering = ["entry_id"]

    def __str__(self) -> str:
        return f"{self.entry_id} paid out by {self.payout_entry_id}"


class LedgerCheckRun(models.Model):
    """One run of the invariant checks (``ledger.tasks.ledger_check``), kept for staff to see."""

    id = models.BigAutoField(primary_key=True)
    started = models.DateTimeField()
    finished = models.DateTimeField()
    ok = models.BooleanField()
    results = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started"]
        verbose_name = "ledger check run"

    def __str__(self) -> str:
        return f"ledger check {self.started:%Y-%m-%d %H:%M:%S} {'ok' if self.ok else 'FAILED'}"
