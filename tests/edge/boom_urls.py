"""The platform's URLs plus views that fail on purpose, for the error-shape tests."""

from django.urls import path
from rest_framework.views import APIView

from config.urls import urlpatterns as platform_urlpatterns


class BoomView(APIView):
    def get(self, request):
        raise RuntimeError("secret internal detail: password=hunter2")


def plain_boom(request):
    raise RuntimeError("secret internal detail in a plain view")


urlpatterns = [
    path("api/v1/test-boom", BoomView.as_view()),
    path("api/test-plain-boom", plain_boom),
    *platform_urlpatterns,
]
