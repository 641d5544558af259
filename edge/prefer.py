"""The ``Prefer`` request header (RFC 7240): what a client would like the server to do, which the server
may honour or ignore; ``Preference-Applied`` in the answer names the preferences it honoured.

The API honours one preference, ``respond-async`` (docs/api.md, "Asynchronous confirmation"). Every other
preference, and any parameter or value, is ignored, as RFC 7240 asks of a server that does not know them.
"""

PREFER_HEADER = "Prefer"
PREFERENCE_APPLIED_HEADER = "Preference-Applied"
RESPOND_ASYNC = "respond-async"


def preferences(request) -> set[str]:
    """The names of the preferences the request states, lower case (``Prefer: respond-async, wait=10`` →
    ``{"respond-async", "wait"}``). Several ``Prefer`` headers arrive joined by commas, which reads the same."""
    names = set()
    for preference in request.headers.get(PREFER_HEADER, "").split(","):
        # A preference is ``token [= value] *( ; parameter )``: only its token names it.
        name = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
        if name:
            names.add(name)
    return names


def prefers_respond_async(request) -> bool:
    """Whether the client asked to be answered before the work is done (``Prefer: respond-async``)."""
    return RESPOND_ASYNC in preferences(request)


def preference_applied(response, preference: str):
    """Say in ``response`` that ``preference`` was honoured; returns the response."""
    response[PREFERENCE_APPLIED_HEADER] = preference
    return response
