"""The one way the admin writes dates and times: ISO-like, 24-hour, with the time zone ("2026-11-30 14:05 UTC").

Django's own English formats ("Nov. 30, 2026, 2:05 p.m.") take precedence over the settings of the same names,
so the project's formats are a format module (``FORMAT_MODULE_PATH``); the settings repeat them for any code
that reads them directly. Templates write ``|date:"DATETIME_FORMAT"``, Python ``backoffice.admin.base.when``.
"""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
MONTH_DAY_FORMAT = "F j"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1  # Monday
