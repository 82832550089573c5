from cbring._core import (
    EVENT_FORMAT as EVENT_FORMAT,
    EVENT_SIZE as EVENT_SIZE,
    MAX_CAPACITY as MAX_CAPACITY,
    MAX_RINGS as MAX_RINGS,
    AsyncResult as AsyncResult,
    Batch as Batch,
    InternetStatus as InternetStatus,
    Ring as Ring,
    RingStats as RingStats,
    StatusEvent as StatusEvent,
)
from cbring._errors import WinINetError as WinINetError, error_name as error_name
from cbring import aio as aio, dispatch as dispatch

__version__: str
__all__ = [
    "EVENT_FORMAT",
    "EVENT_SIZE",
    "MAX_CAPACITY",
    "MAX_RINGS",
    "AsyncResult",
    "Batch",
    "InternetStatus",
    "Ring",
    "RingStats",
    "StatusEvent",
    "WinINetError",
    "error_name",
    "get_include",
]

def get_include() -> str: ...
