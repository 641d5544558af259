"""The ledger part of the merchant API; included under /api/v1/ by config.api_urls."""

urlpatterns = []
