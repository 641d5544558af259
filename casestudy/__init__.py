"""The design case study, executable (issue 16): the naive design against the refined one, measured.

``python manage.py casestudy`` (``make casestudy``, ``casestudy.runner``) runs the same seeded workload and faults
against the naive design (``casestudy.naive``) and the platform and writes ``var/reports/casestudy-<seed>.json``
and, through ``casestudy.report``, ``var/reports/casestudy.html``, which staff open from the admin
(``casestudy.admin_views``). The chapters and the code behind each are in docs/case-study.md.

Nothing here is part of the platform's payment path: the naive design's URLs are mounted only when
``CASESTUDY_NAIVE_ENABLED`` is true, which only the case-study run sets (in the web process it starts).
"""
