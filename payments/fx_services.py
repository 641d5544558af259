"""Exchange rates: importing the processor's feed, staff edits, and the rate a payment locks at confirmation.

Rates are Decimals end to end (never floats). A payment in another currency than its merchant's settlement
currency is converted at the mid-market rate less ``FX_MARGIN_BPS``, locked on the payment when it is
confirmed; every later movement of that payment (capture, refund, return) uses the locked rate. A pair
with no rate is refused (``CurrencyConversionUnavailable``, 400): a payment never settles unconverted in a
currency other than its merchant's.
"""

import logging
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.money import convert, is_known_currency
from gateways.base import ProcessorUnavailable
from gateways.registry import processor_outside_transaction
from payments.errors import CurrencyConversionUnavailable
from payments.locks import fx_rate_lock, fx_rate_lock_pair
from payments.models import FxRate, Payment

logger = logging.getLogger(__name__)

# A locked rate keeps this many decimal places (rounded half to even): what the payment shows and uses.
RATE_PLACES = Decimal("1e-10")


@dataclass(frozen=True)
class LockedConversion:
    settlement_currency: str
    settlement_amount: int
    fx_rate: Decimal | None  # None when no conversion is needed


def payment_fx(payment: Payment) -> dict:
    """The conversion locked on ``payment``, as the posting rules take it (empty when it is not converted)."""
    if payment.fx_rate is None:
        return {}
    return {"settlement_currency": payment.settlement_currency, "fx_rate": payment.fx_rate}


def fx_rates_import(*, raise_unavailable: bool = False) -> int:
    """Import the processor's rate feed into ``FxRate`` (source "processor"). Returns how many rates it set.

    A rate finance set by hand (source "manual") is left alone. The processor not answering changes nothing
    (a later run tries again); with ``raise_unavailable`` it raises ProcessorUnavailable instead of returning
    0, so that a caller can tell "not answering" from "nothing to import" and retry."""
    try:
        base, rates = processor_outside_transaction("fetching exchange rates").fx_rates()
    except ProcessorUnavailable:
        logger.warning("exchange rates: the processor did not answer; kept the current rates")
        if raise_unavailable:
            raise
        return 0
    now = timezone.now()
    imported = 0
    with transaction.atomic():
        for quote, text in sorted(rates.items()):
            rate = Decimal(text)
            if not is_known_currency(quote) or not is_known_currency(base) or quote == base or rate <= 0:
                continue
            existing = fx_rate_lock_pair(base_currency=base, quote_currency=quote)
            if existing is not None and existing.source == FxRate.Source.MANUAL:
                continue
            FxRate.objects.update_or_create(
                base_currency=base,
                quote_currency=quote,
                defaults={"rate": rate, "source": FxRate.Source.PROCESSOR, "as_of": now},
            )
            imported += 1
    return imported


def fx_rate_set(*, rate: FxRate, actor: str, reason: str = "") -> FxRate:
    """Save a rate finance edited in the admin (source "manual"), with its audit entry."""
    with transaction.atomic():
        before = None
        if rate.pk:
            old = fx_rate_lock(rate.pk)
            before = {"rate": str(old.rate), "source": old.source}
        rate.source = FxRate.Source.MANUAL
        rate.as_of = timezone.now()
        rate.save()
        audit_record(
            actor=actor,
            action="fx_rate.set",
            obj=rate,
            before=before,
            after={"pair": f"{rate.base_currency}/{rate.quote_currency}", "rate": str(rate.rate)},
            reason=reason,
        )
    return rate


def _mid_rate(from_currency: str, to_currency: str) -> Decimal | None:
    """Units of ``to_currency`` per unit of ``from_currency``: direct, inverse, or across a common base."""
    rows = {(r.base_currency, r.quote_currency): r.rate for r in FxRate.objects.all()}
    if (from_currency, to_currency) in rows:
        return rows[(from_currency, to_currency)]
    with localcontext() as context:
        context.prec = 34
        if (to_currency, from_currency) in rows:
            return Decimal(1) / rows[(to_currency, from_currency)]
        for (base, quote), rate in rows.items():
            if quote == from_currency and (base, to_currency) in rows:
                return rows[(base, to_currency)] / rate
    return None


def fx_locked_rate(*, from_currency: str, to_currency: str) -> Decimal | None:
    """The rate a payment locks: the mid rate less ``FX_MARGIN_BPS``, to 10 decimal places (half to even).
    None when no rate is known for the pair."""
    mid = _mid_rate(from_currency, to_currency)
    if mid is None:
        return None
    with localcontext() as context:
        context.prec = 34
        margin = Decimal(10_000 - settings.FX_MARGIN_BPS) / Decimal(10_000)
        return (mid * margin).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)


def fx_require_rate(*, currency: str, settlement_currency: str) -> None:
    """Refuse, before anything is written, a payment in ``currency`` that cannot be converted into
    ``settlement_currency``: raises CurrencyConversionUnavailable (400 ``currency_conversion_unavailable``)
    when the currencies differ and no rate is known for the pair. Nothing to check when they are the same.

    Called where a payment is created, so that it is refused then rather than created and refused at
    confirmation; ``fx_lock_conversion`` checks again at confirmation (a rate may be deleted meanwhile)."""
    if currency == settlement_currency:
        return
    if _mid_rate(currency, settlement_currency) is None:
        raise CurrencyConversionUnavailable.for_pair(currency=currency, settlement_currency=settlement_currency)


def fx_lock_conversion(*, amount: int, currency: str, settlement_currency: str) -> LockedConversion:
    """What a payment of ``amount`` ``currency`` is worth in ``settlement_currency``, at a rate locked now.

    In the settlement currency itself there is nothing to convert (``fx_rate`` None). Otherwise the payment is
    converted at the locked rate, and when no rate is known for the pair this raises
    CurrencyConversionUnavailable (400 ``currency_conversion_unavailable``): it never settles a payment
    unconverted, which would credit the merchant a balance in a currency it does not settle in. Raised inside
    the confirmation's transaction, it leaves the payment as it was, and the processor is never called."""
    if currency == settlement_currency:
        return LockedConversion(settlement_currency=currency, settlement_amount=amount, fx_rate=None)
    rate = fx_locked_rate(from_currency=currency, to_currency=settlement_currency)
    if rate is None:
        logger.warning("no exchange rate %s→%s: the payment is refused", currency, settlement_currency)
        raise CurrencyConversionUnavailable.for_pair(currency=currency, settlement_currency=settlement_currency)
    return LockedConversion(
        settlement_currency=settlement_currency,
        settlement_amount=convert(amount, currency, settlement_currency, rate),
        fx_rate=rate,
    )
