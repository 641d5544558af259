"""The platform's URLconf with the naive design mounted, as the case-study run's web process has it."""

from django.urls import include, path

from config import urls

urlpatterns = [path("casestudy/naive/", include("casestudy.naive.urls")), *urls.urlpatterns]
handler400, handler404, handler500 = urls.handler400, urls.handler404, urls.handler500
