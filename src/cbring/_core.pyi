import enum
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, NamedTuple, SupportsIndex, final, overload

from typing_extensions import Buffer, Self, disjoint_base

EVENT_SIZE: int
EVENT_FORMAT: str
MAX_CAPACITY: int
MAX_RINGS: int
PAYLOAD_MAX: int
ANSI_ENCODING: str

class InternetStatus(enum.IntEnum):
    RESOLVING_NAME = 10
    NAME_RESOLVED = 11
    CONNECTING_TO_SERVER = 20
    CONNECTED_TO_SERVER = 21
    SENDING_REQUEST = 30
    REQUEST_SENT = 31
    RECEIVING_RESPONSE = 40
    RESPONSE_RECEIVED = 41
    CTL_RESPONSE_RECEIVED = 42
    PREFETCH = 43
    CLOSING_CONNECTION = 50
    CONNECTION_CLOSED = 51
    HANDLE_CREATED = 60
    HANDLE_CLOSING = 70
    DETECTING_PROXY = 80
    REQUEST_COMPLETE = 100
    REDIRECT = 110
    INTERMEDIATE_RESPONSE = 120
    USER_INPUT_REQUIRED = 140
    STATE_CHANGE = 200
    COOKIE_SENT = 320
    COOKIE_RECEIVED = 321
    PRIVACY_IMPACTED = 324
    P3P_HEADER = 325
    P3P_POLICYREF = 326
    COOKIE_HISTORY = 327

class WinHttpStatus(enum.IntEnum):
    RESOLVING_NAME = 0x1
    NAME_RESOLVED = 0x2
    CONNECTING_TO_SERVER = 0x4
    CONNECTED_TO_SERVER = 0x8
    SENDING_REQUEST = 0x10
    REQUEST_SENT = 0x20
    RECEIVING_RESPONSE = 0x40
    RESPONSE_RECEIVED = 0x80
    CLOSING_CONNECTION = 0x100
    CONNECTION_CLOSED = 0x200
    HANDLE_CREATED = 0x400
    HANDLE_CLOSING = 0x800
    DETECTING_PROXY = 0x1000
    REDIRECT = 0x4000
    INTERMEDIATE_RESPONSE = 0x8000
    SECURE_FAILURE = 0x10000
    HEADERS_AVAILABLE = 0x20000
    DATA_AVAILABLE = 0x40000
    READ_COMPLETE = 0x80000
    WRITE_COMPLETE = 0x100000
    REQUEST_ERROR = 0x200000
    SENDREQUEST_COMPLETE = 0x400000
    GETPROXYFORURL_COMPLETE = 0x1000000
    CLOSE_COMPLETE = 0x2000000
    SHUTDOWN_COMPLETE = 0x4000000
    GETPROXYSETTINGS_COMPLETE = 0x8000000
    SETTINGS_WRITE_COMPLETE = 0x10000000
    SETTINGS_READ_COMPLETE = 0x20000000

class WinHttpApi(enum.IntEnum):
    API_RECEIVE_RESPONSE = 1
    API_QUERY_DATA_AVAILABLE = 2
    API_READ_DATA = 3
    API_WRITE_DATA = 4
    API_SEND_REQUEST = 5
    API_GET_PROXY_FOR_URL = 6

class WinHttpSecureFailure(enum.IntFlag):
    CERT_REV_FAILED = 0x1
    INVALID_CERT = 0x2
    CERT_REVOKED = 0x4
    INVALID_CA = 0x8
    CERT_CN_INVALID = 0x10
    CERT_DATE_INVALID = 0x20
    CERT_WRONG_USAGE = 0x40
    SECURITY_CHANNEL_ERROR = 0x80000000

WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS: int

class RingStats(NamedTuple):
    pushed: int
    drained: int
    dropped: int
    spilled: int
    late: int
    capacity: int
    high_water: int
    wakeups: int
    payloads_truncated: int

@disjoint_base
class AsyncResult:
    SIZE: int
    def __init__(self, dwResult: int = 0, dwError: int = 0) -> None: ...
    @property
    def dwResult(self) -> int: ...
    @property
    def dwError(self) -> int: ...
    @classmethod
    def from_bytes(cls, data: Buffer) -> Self: ...
    def __bytes__(self) -> bytes: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any, /) -> Self: ...

_Field = Literal["handle", "context", "status", "result", "error", "async_result", "info",
                 "truncated", "length", "flags", "seq", "raw"]

@final
class StatusEvent:
    FIELDS: tuple[str, ...]
    @property
    def handle(self) -> int: ...
    @property
    def context(self) -> int: ...
    @property
    def api(self) -> Literal["wininet", "winhttp"]: ...
    @property
    def status(self) -> InternetStatus | WinHttpStatus | int: ...
    @property
    def status_code(self) -> int: ...
    @property
    def result(self) -> WinHttpApi | int | None: ...
    @property
    def error(self) -> int | None: ...
    @property
    def async_result(self) -> AsyncResult | None: ...
    @property
    def info(self) -> int | str | bytes | None: ...
    @property
    def buffer(self) -> int | None: ...
    @property
    def raw(self) -> bytes | None: ...
    @property
    def truncated(self) -> bool: ...
    @property
    def length(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def seq(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any, /) -> Self: ...

@final
class Batch:
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: SupportsIndex, /) -> StatusEvent: ...
    @overload
    def __getitem__(self, index: slice, /) -> Batch: ...
    def __iter__(self) -> Iterator[StatusEvent]: ...
    def tuples(self, *fields: _Field) -> list[tuple[Any, ...]]: ...
    def column(self, field: _Field) -> list[Any]: ...
    def payload(self, index: SupportsIndex) -> bytes | None: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any, /) -> Self: ...

@disjoint_base
class Ring:
    def __init__(self, capacity: int = 65536, overflow: str = "spill", *, block_timeout: float = 1.0) -> None: ...
    @property
    def capacity(self) -> int: ...
    @property
    def overflow(self) -> str: ...
    @overflow.setter
    def overflow(self, value: str) -> None: ...
    @property
    def block_timeout(self) -> float: ...
    @property
    def closed(self) -> bool: ...
    @property
    def status_callback(self) -> int: ...
    @property
    def status_callback_w(self) -> int: ...
    @property
    def winhttp_callback(self) -> int: ...
    @property
    def stats(self) -> RingStats: ...
    def register(self, hinternet: int) -> int: ...
    def register_winhttp(self, hinternet: int, notifications: int = ...) -> int: ...
    def drain(self, max_events: int | None = None) -> Batch: ...
    def drain_into(self, buffer: Buffer, payloads: Buffer | None = None) -> int: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def fileno(self) -> int: ...
    def batches(self, max_events: int | None = None) -> AsyncIterator[Batch]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: Any) -> bool: ...

def _orphaned_late_calls() -> int: ...
