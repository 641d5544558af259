"""The fault simulator (issue 11): ``make chaos`` / ``python -m chaos``.

It starts a whole stack of its own (a fresh PostgreSQL database, its own redis-server,
the sandbox processor, the web (granian), a Celery worker and beat), drives seeded client
threads through the merchant API while a seeded schedule injects faults, lets the
system settle, then checks that no customer was charged twice and that every
answer, amount, ledger entry and webhook tells the truth. See docs/reliability.md.

Modules: ``stack`` (the processes), ``hooks`` (the merchant webhook receiver and the
processor webhook proxy), ``clients`` (the API clients and their key log), ``faults``
(the schedule and the injector), ``checks`` (settling and the checks), ``report``.
"""
