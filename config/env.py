"""Reading configuration from the environment, with typed helpers; and the ``.env`` file ``make run`` writes.

Every helper records the name it reads in ``SETTINGS_VARIABLES``: what ``make run``
carries over to ``.env`` (``python -m config.env write``) and what the README must list.
"""

import json
import os
import re
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off", ""}

# The environment variables the settings have read in this process.
SETTINGS_VARIABLES: set[str] = set()


def env_str(name: str, default: str | None = None) -> str | None:
    SETTINGS_VARIABLES.add(name)
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    SETTINGS_VARIABLES.add(name)
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name} must be 0 or 1, not {raw!r}")


def env_int(name: str, default: int) -> int:
    SETTINGS_VARIABLES.add(name)
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from exc


def env_optional_int(name: str) -> int | None:
    """An integer when the variable is set (and not empty), None otherwise: a setting whose absence means
    "not overridden"."""
    SETTINGS_VARIABLES.add(name)
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    SETTINGS_VARIABLES.add(name)
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    SETTINGS_VARIABLES.add(name)
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_currency_amounts(name: str, default: str) -> dict[str, int]:
    """``"USD:30,EUR:25"`` → ``{"USD": 30, "EUR": 25}``: amounts in minor units per currency (or any whole
    number per upper-case code: ``PAYOUT_TRANSIT_DAYS`` gives days per country)."""
    amounts = {}
    for item in env_list(name, default):
        code, _, amount = item.partition(":")
        try:
            amounts[code.strip().upper()] = int(amount)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} must look like USD:30,EUR:25, not {item!r}") from exc
    return amounts


# --- The .env file ---------------------------------------------------------------------------------------------
# One ``NAME=value`` a line; blank lines and lines starting with # are skipped, an ``export`` before the name is
# allowed. A value in double quotes is a JSON string (what the writer uses for anything but plain characters), one
# in single quotes is taken as it is, any other is stripped. Not a shell script: nothing is expanded.

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+,=-]*\Z")


def read_env_file(path: str | os.PathLike) -> dict[str, str]:
    """The variables of an env file; ImproperlyConfigured names the first line it cannot read."""
    values = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not _NAME.match(name):
            raise ImproperlyConfigured(f"{path}, line {number}: expected NAME=value")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ImproperlyConfigured(f"{path}, line {number}: a double-quoted value is a JSON string") from exc
        values[name] = value
    return values


def load_env_file(path: str | os.PathLike | None) -> None:
    """Fill in, from the env file at ``path`` if there is one, the variables the environment does not set."""
    if not path or not os.path.isfile(path):
        return
    for name, value in read_env_file(path).items():
        os.environ.setdefault(name, value)


def format_env_file(values: dict[str, str], header: str = "") -> str:
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for name, value in values.items():
        if not _NAME.match(name):
            raise ValueError(f"not a variable name: {name!r}")
        lines.append(f"{name}={value if _PLAIN.match(value) else json.dumps(value, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"


def write_env_file(path: str | os.PathLike, values: dict[str, str], header: str = "") -> None:
    """Replace the file at ``path`` at once, readable by its owner only (it may hold secrets)."""
    path = Path(path)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(format_env_file(values, header))
        os.chmod(temporary, 0o600)  # whatever the umask
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


ENV_FILE_HEADER = """Written by `make run` (scripts/run) each time it starts: the configuration it runs with.
config/settings.py reads it, so management commands in another shell run with the same configuration;
a variable set in the environment wins over this file. Edits are lost at the next `make run`."""


def _write_command(argv: list[str]) -> int:
    """``python -m config.env write PATH [NAME…]``: every variable the settings read (plus NAME… and SANDBOX_*)
    that is set in the environment, written to PATH."""
    if len(argv) < 2 or argv[0] != "write":
        sys.stderr.write(__doc__.split("\n", 1)[0] + "\nusage: python -m config.env write PATH [NAME...]\n")
        return 2
    import importlib

    # Run as a script this file is __main__; the settings read through the module config.env.
    env = importlib.import_module("config.env")
    os.environ["PLATFORM_ENV_FILE"] = ""  # the file being replaced must not feed itself
    importlib.import_module("config.settings")
    names = env.SETTINGS_VARIABLES | set(argv[2:]) | {name for name in os.environ if name.startswith("SANDBOX_")}
    names.discard("PLATFORM_ENV_FILE")
    values = {name: os.environ[name] for name in sorted(names) if name in os.environ}
    env.write_env_file(argv[1], values, header=ENV_FILE_HEADER)
    return 0


if __name__ == "__main__":
    sys.exit(_write_command(sys.argv[1:]))
