"""The executable case study (issue 16): the naive design (``casestudy.naive``) and the runner that measures it
against the platform (``casestudy.runner``, ``manage.py casestudy``, ``make casestudy``).

Nothing here is part of the platform: the naive design's URLs are mounted only when
``CASESTUDY_NAIVE_ENABLED`` is true, which only the case-study run sets (in the web process it starts).
"""
