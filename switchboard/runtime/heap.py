"""The garbage collector's view of a started service.

A full (generation 2) collection scans every object the collector tracks, and
a started service holds tens of thousands that live as long as the process:
modules, classes, protobuf descriptors, settings, a model rebuilt from the
database (learning). Imports and start-up keep adding to them after the
collection that the imports themselves triggered, so the first full collection
comes a few seconds into serving and stops the event loop for tens of
milliseconds (45–75 ms measured here in the router and the gateway, ~80–90k
objects), a stall every request in flight waits out. Collecting once when the
app has started, then freezing what is alive, takes those objects out of every
later collection: the pause comes before the service reports SERVING (and
before its event-loop lag probe starts, which would take it for overload), and
later full collections scan only what was created since.

Only the process entry asks for it (`entry.py` passes it to the server as
`before_serving`): a test process starting servers in-process keeps its own
collector as it is.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collects start-up garbage, then moves every object still alive into the
    permanent generation (`gc.get_freeze_count()` says how many). Frozen objects
    are freed as usual when their reference count drops to zero; a frozen cycle
    that becomes garbage later stays, with what it references: start-up builds
    none that is dropped later, so what stays is bounded by start-up's work."""
    gc.collect()
    gc.freeze()
