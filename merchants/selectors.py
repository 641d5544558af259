from merchants.models import ApiKey, Merchant


def merchant_get(*, merchant_id: str) -> Merchant | None:
    return Merchant.objects.filter(pk=merchant_id).first()


def api_keys_of(*, merchant: Merchant):
    return ApiKey.objects.filter(merchant=merchant).order_by("-created")
