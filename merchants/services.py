"""Writes for merchants and API keys."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from core.errors import InvalidRequestError
from core.money import is_known_currency
from merchants.keys import generate_key, hash_key, lookup_prefix
from merchants.models import ApiKey, Merchant


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its one-time plain text. Show ``secret`` once; it is not stored."""

    api_key: ApiKey
    secret: str


def merchant_create(*, name: str, settlement_currency: str = "USD") -> Merchant:
    """Create an active merchant. Raises InvalidRequestError for a blank name or unknown currency."""
    name = name.strip()
    if not name:
        raise InvalidRequestError("A merchant needs a name.", param="name", code="parameter_invalid")
    currency = settlement_currency.upper()
    if not is_known_currency(currency):
        raise InvalidRequestError(
            f"Unknown currency {settlement_currency!r}.", param="currency", code="currency_invalid"
        )
    return Merchant.objects.create(name=name, settlement_currency=currency)


def api_key_issue(*, merchant: Merchant, name: str = "") -> IssuedKey:
    """Issue a new secret key for ``merchant``; only its prefix and keyed hash are stored."""
    for _ in range(5):
        secret = generate_key()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    merchant=merchant, name=name, prefix=lookup_prefix(secret), key_hash=hash_key(secret)
                )
        except IntegrityError:
            continue  # the random prefix collided with another key's: draw again
        return IssuedKey(api_key=api_key, secret=secret)
    raise RuntimeError("could not draw a unique API key prefix")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key for good. Revoking twice keeps the first revocation time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_touch(*, api_key: ApiKey, min_interval_seconds: int = 60) -> None:
    """Record that the key was used, at most once a minute, so a busy key is not a hot row."""
    now = timezone.now()
    if api_key.last_used_at and (now - api_key.last_used_at).total_seconds() < min_interval_seconds:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


def merchant_suspend(*, merchant: Merchant) -> Merchant:
    Merchant.objects.filter(pk=merchant.pk).update(status=Merchant.Status.SUSPENDED)
    merchant.refresh_from_db(fields=["status"])
    return merchant


def merchant_reactivate(*, merchant: Merchant) -> Merchant:
    Merchant.objects.filter(pk=merchant.pk).update(status=Merchant.Status.ACTIVE)
    merchant.refresh_from_db(fields=["status"])
    return merchant


def merchant_payout_schedule_update(
    *,
    merchant: Merchant,
    interval: str | None = None,
    delay_days: int | None = None,
    weekly_anchor: str | None = None,
    actor: str,
) -> Merchant:
    """Change the merchant's payout schedule: the fields given, in one transaction with its audit entry
    (``merchant.payout_schedule``, before and after). The caller has validated the values."""
    with transaction.atomic():
        locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
        before = _payout_schedule(locked)
        if interval is not None:
            locked.payout_interval = interval
        if delay_days is not None:
            locked.payout_delay_days = delay_days
        if weekly_anchor is not None:
            locked.payout_weekly_anchor = weekly_anchor
        after = _payout_schedule(locked)
        if after != before:
            locked.save(update_fields=["payout_interval", "payout_delay_days", "payout_weekly_anchor"])
            audit_record(actor=actor, action="merchant.payout_schedule", obj=locked, before=before, after=after)
    merchant.payout_interval, merchant.payout_delay_days = locked.payout_interval, locked.payout_delay_days
    merchant.payout_weekly_anchor = locked.payout_weekly_anchor
    return merchant


def _payout_schedule(merchant: Merchant) -> dict:
    return {
        "interval": merchant.payout_interval,
        "delay_days": merchant.payout_delay_days,
        "weekly_anchor": merchant.payout_weekly_anchor,
    }
