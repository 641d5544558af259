"""``settings.PROCESSORS``: every acquirer the platform talks to, by name, built from the environment.

Each entry holds what its adapter needs (``adapter``: a dotted path to a ``gateways.base.Processor`` class,
``base_url``, ``api_key``, ``webhook_secret``, ``connect_timeout``, ``read_timeout``) and the fees it deducts
in its settlement reports (``fee_bps``, ``fee_fixed``, ``dispute_fee``: the sandbox's defaults).

The first name is configured by ``PROCESSOR_<SETTING>`` (the variables of the days of a single processor);
every other one by ``PROCESSOR_<NAME>_<SETTING>`` (``PROCESSOR_SANDBOX_EU_BASE_URL``). A name's development
secrets (``development_webhook_secret``) are kept beside it, so that ``config/checks.py`` can refuse them in
production for each processor.
"""

import re

from django.core.exceptions import ImproperlyConfigured

from config.env import env_float, env_int, env_str

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
SANDBOX_ADAPTER = "gateways.sandbox_acquirer.client.SandboxProcessor"


def development_webhook_secret(name: str) -> str:
    """The published secret a development sandbox of this name signs with (refused in production)."""
    return "whsec_sandbox_development_only" if name == "sandbox" else f"whsec_{name}_development_only"


def processors_from_environment(
    *, names: list[str], development_api_key: str, default_ports: dict[str, int]
) -> dict[str, dict]:
    if not names:
        raise ImproperlyConfigured("PROCESSOR_NAMES lists no processor")
    processors: dict[str, dict] = {}
    for position, name in enumerate(names):
        if NAME.match(name) is None:
            raise ImproperlyConfigured(f"PROCESSOR_NAMES: {name!r} is not a name (a-z, 0-9, _; 40 at most)")
        if name in processors:
            raise ImproperlyConfigured(f"PROCESSOR_NAMES lists {name!r} twice")
        prefix = "PROCESSOR_" if position == 0 else f"PROCESSOR_{name.upper()}_"
        port = default_ports.get(name, 8089 + position)
        processors[name] = {
            "adapter": env_str(f"{prefix}ADAPTER") or SANDBOX_ADAPTER,
            "base_url": env_str(f"{prefix}BASE_URL") or f"http://127.0.0.1:{port}",
            # Where customers' browsers reach it (the hosted checkout's card field); empty: its base_url.
            "public_url": env_str(f"{prefix}PUBLIC_URL") or "",
            "api_key": env_str(f"{prefix}API_KEY") or development_api_key,
            "webhook_secret": env_str(f"{prefix}WEBHOOK_SECRET") or development_webhook_secret(name),
            "development_webhook_secret": development_webhook_secret(name),
            "connect_timeout": env_float(f"{prefix}CONNECT_TIMEOUT", 2.0),
            "read_timeout": env_float(f"{prefix}READ_TIMEOUT", 5.0),
            "fee_bps": env_int(f"{prefix}FEE_BPS", 250),
            "fee_fixed": env_int(f"{prefix}FEE_FIXED", 25),
            "dispute_fee": env_int(f"{prefix}DISPUTE_FEE", 1500),
        }
    return processors
