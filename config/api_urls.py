"""The merchant API, /api/v1/. Each app contributes its own routes."""

urlpatterns = []
