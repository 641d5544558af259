"""The n-th value of ``random.Random(seed)``, for fault injection that is deterministic in request order.

The position n comes from a counter in the database (``FaultSettings.draws``),
so every worker process and thread agrees on which request gets which draw.
Each process replays the sequence of ``Random(seed)`` and keeps a window of
recent values, because concurrent requests take their positions slightly out
of order.
"""

import random
import threading
from collections import OrderedDict

_WINDOW = 4096
_lock = threading.Lock()
_seed: int | None = None
_rng = random.Random(0)
_generated = 0
_recent: OrderedDict[int, float] = OrderedDict()


def nth_draw(seed: int, position: int) -> float:
    """The ``position``-th (1-based) value of ``random.Random(seed).random()``."""
    global _seed, _rng, _generated
    with _lock:
        if seed != _seed or (position <= _generated and position not in _recent):
            _seed, _rng, _generated = seed, random.Random(seed), 0
            _recent.clear()
        while _generated < position:
            _generated += 1
            _recent[_generated] = _rng.random()
            if len(_recent) > _WINDOW:
                _recent.popitem(last=False)
        return _recent[position]
