"""The design case study, executable (issue 16): the naive design against the refined one, measured.

``python manage.py casestudy`` runs the same seeded workload and faults against both designs and writes
``var/reports/casestudy-<seed>.json`` and, through ``casestudy.report``, ``var/reports/casestudy.html``,
which staff open from the admin (``casestudy.admin_views``). The chapters and the code behind each are in
docs/case-study.md.
"""
