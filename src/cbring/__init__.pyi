from typing import Any

from cbring._core import (
    ANSI_ENCODING as ANSI_ENCODING,
    EVENT_FORMAT as EVENT_FORMAT,
    EVENT_SIZE as EVENT_SIZE,
    MAX_CAPACITY as MAX_CAPACITY,
    MAX_RINGS as MAX_RINGS,
    PAYLOAD_MAX as PAYLOAD_MAX,
    WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS as WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS,
    AsyncResult as AsyncResult,
    Batch as Batch,
    InternetStatus as InternetStatus,
    Ring as Ring,
    RingStats as RingStats,
    StatusEvent as StatusEvent,
    WinHttpApi as WinHttpApi,
    WinHttpSecureFailure as WinHttpSecureFailure,
    WinHttpStatus as WinHttpStatus,
)
from cbring._errors import (
    DispatcherClosed as DispatcherClosed,
    EventsDropped as EventsDropped,
    WinHttpError as WinHttpError,
    WinINetError as WinINetError,
    error_name as error_name,
)
from cbring import aio as aio, dispatch as dispatch

# numpy.dtype of one record (EVENT_FORMAT's fields); only when numpy is installed
EVENT_DTYPE: Any
__version__: str
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

def get_include() -> str: ...
