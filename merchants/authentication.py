"""``Authorization: Bearer sk_test_…`` for the merchant API."""

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from core.db import PreparedRead
from merchants.keys import key_matches, looks_like_key, lookup_prefix
from merchants.models import ApiKey
from merchants.services import api_key_touch

_INVALID = "Invalid API key provided."

# Every API request reads its key: compiled once (core.db.PreparedRead).
_key_with_merchant = PreparedRead(lambda prefix: ApiKey.objects.select_related("merchant").filter(prefix=prefix))


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a secret key: ``request.user`` is the merchant, ``request.auth`` the key.

    Unknown, malformed and revoked keys and keys of suspended merchants all fail
    alike, so an answer never tells which keys exist.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise AuthenticationFailed("Send the API key as 'Authorization: Bearer sk_test_…'.")
        if not looks_like_key(secret):
            raise AuthenticationFailed(_INVALID)
        api_key = _key_with_merchant.first(lookup_prefix(secret))
        if api_key is None or not key_matches(secret, api_key.key_hash):
            raise AuthenticationFailed(_INVALID)
        if api_key.is_revoked or not api_key.merchant.is_active:
            raise AuthenticationFailed(_INVALID)
        api_key_touch(api_key=api_key)
        return api_key.merchant, api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class IsMerchant(BasePermission):
    """Every merchant API view needs an authenticated merchant."""

    def has_permission(self, request, view):
        return request.auth is not None
