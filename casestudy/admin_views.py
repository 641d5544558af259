"""The case study's report in the admin: staff open the newest ``var/reports/casestudy.html`` from the index.

The page is the file ``python manage.py casestudy`` wrote (``casestudy.report.render_html``), served as it is,
behind the admin's own gate (``admin.site.admin_view``: active staff whose sign-in a second factor verified).
It needs nothing from elsewhere, so it is served under a Content-Security-Policy that allows no script and
no fetch at all: a report file altered on disk still cannot run code in the admin's origin.
"""

from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.template.response import TemplateResponse

from casestudy.report import REPORT_NAME

REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def report_path():
    """Where the run writes its report: ``VAR_DIR/reports/casestudy.html`` (``var/`` unless ``VAR_DIR`` is set)."""
    return settings.VAR_DIR / "reports" / REPORT_NAME


def report_view(request):
    """The newest report, or an admin page saying how to make one."""
    path = report_path()
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        context = {**admin.site.each_context(request), "title": "Case study report", "report_path": path}
        return TemplateResponse(request, "casestudy/no_report.html", context)
    response = HttpResponse(body, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = REPORT_POLICY
    return response
