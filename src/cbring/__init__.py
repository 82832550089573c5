"""cbring: WinINet and WinHTTP status callbacks into a lock-free ring, drained from Python in batches."""

import os as _os

from cbring._core import (
    ANSI_ENCODING,
    EVENT_FORMAT,
    EVENT_SIZE,
    MAX_CAPACITY,
    MAX_RINGS,
    PAYLOAD_MAX,
    WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS,
    AsyncResult,
    Batch,
    InternetStatus,
    Ring,
    RingStats,
    StatusEvent,
    WinHttpApi,
    WinHttpSecureFailure,
    WinHttpStatus,
)
from cbring._errors import DispatcherClosed, EventsDropped, WinHttpError, WinINetError, error_name

__all__ = [
    "ANSI_ENCODING",
    "EVENT_FORMAT",
    "EVENT_SIZE",
    "MAX_CAPACITY",
    "MAX_RINGS",
    "PAYLOAD_MAX",
    "WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS",
    "AsyncResult",
    "Batch",
    "DispatcherClosed",
    "EventsDropped",
    "InternetStatus",
    "Ring",
    "RingStats",
    "StatusEvent",
    "WinHttpApi",
    "WinHttpError",
    "WinHttpSecureFailure",
    "WinHttpStatus",
    "WinINetError",
    "error_name",
    "get_include",
]

__version__ = "0.1.0"

# cbring.aio and cbring.dispatch are imported on first use (PEP 562), so
# that `import cbring` stays cheap and does not pull in asyncio; EVENT_DTYPE
# too, since numpy takes longer to import than all of cbring.
_SUBMODULES = ("aio", "dispatch")


def __getattr__(name):
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"cbring.{name}")
    if name == "EVENT_DTYPE":
        from cbring._core import _event_dtype

        globals()[name] = dtype = _event_dtype()
        return dtype
    raise AttributeError(f"module 'cbring' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES])


def get_include() -> str:
    """The folder to add to a C compiler's include path: ``#include <cbring/ring.h>``."""
    here = _os.path.dirname(_os.path.abspath(__file__))
    installed = _os.path.join(here, "include")
    if _os.path.isdir(installed):
        return installed
    # an in-place build of a source checkout: src/cbring/ -> include/
    return _os.path.join(_os.path.dirname(_os.path.dirname(here)), "include")
