"""One outbox kick per request, however many transactions with events the request commits."""

from events.services import outbox_kicks_once


class OutboxKickOncePerRequestMiddleware:
    """Runs the request inside ``events.services.outbox_kicks_once``: a create-and-confirm commits two
    transactions with an event each, and asks a worker to drain the outbox once, before its response leaves."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with outbox_kicks_once():
            return self.get_response(request)
