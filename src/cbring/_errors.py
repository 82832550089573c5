"""WinINet's and WinHTTP's error codes, by name, and the exceptions the dispatchers raise."""

from __future__ import annotations

import sys
from typing import Any, Optional, Tuple, Union

_NAMES = {
    12001: "ERROR_INTERNET_OUT_OF_HANDLES",
    12002: "ERROR_INTERNET_TIMEOUT",
    12003: "ERROR_INTERNET_EXTENDED_ERROR",
    12004: "ERROR_INTERNET_INTERNAL_ERROR",
    12005: "ERROR_INTERNET_INVALID_URL",
    12006: "ERROR_INTERNET_UNRECOGNIZED_SCHEME",
    12007: "ERROR_INTERNET_NAME_NOT_RESOLVED",
    12008: "ERROR_INTERNET_PROTOCOL_NOT_FOUND",
    12009: "ERROR_INTERNET_INVALID_OPTION",
    12010: "ERROR_INTERNET_BAD_OPTION_LENGTH",
    12011: "ERROR_INTERNET_OPTION_NOT_SETTABLE",
    12012: "ERROR_INTERNET_SHUTDOWN",
    12013: "ERROR_INTERNET_INCORRECT_USER_NAME",
    12014: "ERROR_INTERNET_INCORRECT_PASSWORD",
    12015: "ERROR_INTERNET_LOGIN_FAILURE",
    12016: "ERROR_INTERNET_INVALID_OPERATION",
    12017: "ERROR_INTERNET_OPERATION_CANCELLED",
    12018: "ERROR_INTERNET_INCORRECT_HANDLE_TYPE",
    12019: "ERROR_INTERNET_INCORRECT_HANDLE_STATE",
    12020: "ERROR_INTERNET_NOT_PROXY_REQUEST",
    12021: "ERROR_INTERNET_REGISTRY_VALUE_NOT_FOUND",
    12022: "ERROR_INTERNET_BAD_REGISTRY_PARAMETER",
    12023: "ERROR_INTERNET_NO_DIRECT_ACCESS",
    12024: "ERROR_INTERNET_NO_CONTEXT",
    12025: "ERROR_INTERNET_NO_CALLBACK",
    12026: "ERROR_INTERNET_REQUEST_PENDING",
    12027: "ERROR_INTERNET_INCORRECT_FORMAT",
    12028: "ERROR_INTERNET_ITEM_NOT_FOUND",
    12029: "ERROR_INTERNET_CANNOT_CONNECT",
    12030: "ERROR_INTERNET_CONNECTION_ABORTED",
    12031: "ERROR_INTERNET_CONNECTION_RESET",
    12032: "ERROR_INTERNET_FORCE_RETRY",
    12033: "ERROR_INTERNET_INVALID_PROXY_REQUEST",
    12034: "ERROR_INTERNET_NEED_UI",
    12036: "ERROR_INTERNET_HANDLE_EXISTS",
    12037: "ERROR_INTERNET_SEC_CERT_DATE_INVALID",
    12038: "ERROR_INTERNET_SEC_CERT_CN_INVALID",
    12150: "ERROR_HTTP_HEADER_NOT_FOUND",
    12151: "ERROR_HTTP_DOWNLEVEL_SERVER",
    12152: "ERROR_HTTP_INVALID_SERVER_RESPONSE",
    12153: "ERROR_HTTP_INVALID_HEADER",
    12154: "ERROR_HTTP_INVALID_QUERY_REQUEST",
    12155: "ERROR_HTTP_HEADER_ALREADY_EXISTS",
    12156: "ERROR_HTTP_REDIRECT_FAILED",
    12157: "ERROR_INTERNET_SECURITY_CHANNEL_ERROR",
    12160: "ERROR_HTTP_NOT_REDIRECTED",
    12163: "ERROR_INTERNET_DISCONNECTED",
    12164: "ERROR_INTERNET_SERVER_UNREACHABLE",
    12165: "ERROR_INTERNET_PROXY_SERVER_UNREACHABLE",
}


# WinHTTP's own names (winhttp.h: WINHTTP_ERROR_BASE 12000 + n, up to 12190);
# the numbers overlap WinINet's, the meanings mostly agree, the names differ.
_WINHTTP_NAMES = {
    12001: "ERROR_WINHTTP_OUT_OF_HANDLES",
    12002: "ERROR_WINHTTP_TIMEOUT",
    12004: "ERROR_WINHTTP_INTERNAL_ERROR",
    12005: "ERROR_WINHTTP_INVALID_URL",
    12006: "ERROR_WINHTTP_UNRECOGNIZED_SCHEME",
    12007: "ERROR_WINHTTP_NAME_NOT_RESOLVED",
    12009: "ERROR_WINHTTP_INVALID_OPTION",
    12011: "ERROR_WINHTTP_OPTION_NOT_SETTABLE",
    12012: "ERROR_WINHTTP_SHUTDOWN",
    12015: "ERROR_WINHTTP_LOGIN_FAILURE",
    12017: "ERROR_WINHTTP_OPERATION_CANCELLED",
    12018: "ERROR_WINHTTP_INCORRECT_HANDLE_TYPE",
    12019: "ERROR_WINHTTP_INCORRECT_HANDLE_STATE",
    12029: "ERROR_WINHTTP_CANNOT_CONNECT",
    12030: "ERROR_WINHTTP_CONNECTION_ERROR",
    12032: "ERROR_WINHTTP_RESEND_REQUEST",
    12037: "ERROR_WINHTTP_SECURE_CERT_DATE_INVALID",
    12038: "ERROR_WINHTTP_SECURE_CERT_CN_INVALID",
    12044: "ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED",
    12045: "ERROR_WINHTTP_SECURE_INVALID_CA",
    12057: "ERROR_WINHTTP_SECURE_CERT_REV_FAILED",
    12100: "ERROR_WINHTTP_CANNOT_CALL_BEFORE_OPEN",
    12101: "ERROR_WINHTTP_CANNOT_CALL_BEFORE_SEND",
    12102: "ERROR_WINHTTP_CANNOT_CALL_AFTER_SEND",
    12103: "ERROR_WINHTTP_CANNOT_CALL_AFTER_OPEN",
    12150: "ERROR_WINHTTP_HEADER_NOT_FOUND",
    12152: "ERROR_WINHTTP_INVALID_SERVER_RESPONSE",
    12153: "ERROR_WINHTTP_INVALID_HEADER",
    12154: "ERROR_WINHTTP_INVALID_QUERY_REQUEST",
    12155: "ERROR_WINHTTP_HEADER_ALREADY_EXISTS",
    12156: "ERROR_WINHTTP_REDIRECT_FAILED",
    12157: "ERROR_WINHTTP_SECURE_CHANNEL_ERROR",
    12166: "ERROR_WINHTTP_BAD_AUTO_PROXY_SCRIPT",
    12167: "ERROR_WINHTTP_UNABLE_TO_DOWNLOAD_SCRIPT",
    12169: "ERROR_WINHTTP_SECURE_INVALID_CERT",
    12170: "ERROR_WINHTTP_SECURE_CERT_REVOKED",
    12172: "ERROR_WINHTTP_NOT_INITIALIZED",
    12175: "ERROR_WINHTTP_SECURE_FAILURE",
    12176: "ERROR_WINHTTP_UNHANDLED_SCRIPT_TYPE",
    12177: "ERROR_WINHTTP_SCRIPT_EXECUTION_ERROR",
    12178: "ERROR_WINHTTP_AUTO_PROXY_SERVICE_ERROR",
    12179: "ERROR_WINHTTP_SECURE_CERT_WRONG_USAGE",
    12180: "ERROR_WINHTTP_AUTODETECTION_FAILED",
    12181: "ERROR_WINHTTP_HEADER_COUNT_EXCEEDED",
    12182: "ERROR_WINHTTP_HEADER_SIZE_OVERFLOW",
    12183: "ERROR_WINHTTP_CHUNKED_ENCODING_HEADER_SIZE_OVERFLOW",
    12184: "ERROR_WINHTTP_RESPONSE_DRAIN_OVERFLOW",
    12185: "ERROR_WINHTTP_CLIENT_CERT_NO_PRIVATE_KEY",
    12186: "ERROR_WINHTTP_CLIENT_CERT_NO_ACCESS_PRIVATE_KEY",
    12187: "ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED_PROXY",
    12188: "ERROR_WINHTTP_SECURE_FAILURE_PROXY",
    12189: "ERROR_WINHTTP_RESERVED_189",
    12190: "ERROR_WINHTTP_HTTP_PROTOCOL_MISMATCH",
}


def error_name(code: int) -> str:
    """WinINet's name for an error code, or ``"error <code>"`` for codes it does not name."""
    return _NAMES.get(code, f"error {code}")


class WinINetError(OSError):
    """An asynchronous WinINet operation failed: REQUEST_COMPLETE carried dwResult FALSE.

    ``winerror`` (and ``dwError``) hold the code, ``name`` its WinINet name,
    ``context`` the request's dwContext."""

    def __init__(self, dwError: int, context: int):
        self.dwError = dwError
        self.name = error_name(dwError)
        self.context = context
        super().__init__(dwError, f"{self.name} ({dwError}) for context {context}")
        if sys.platform == "win32":
            self.winerror = dwError  # OSError's own attribute there

    if sys.platform != "win32":
        # On POSIX, OSError has no winerror of its own.  On Windows it has a
        # writable one, which a read-only property may not override (mypy
        # --strict, checking for win32, says so).
        @property
        def winerror(self) -> int:
            return self.dwError

    def __reduce__(self) -> Tuple[type[WinINetError], Tuple[int, int]]:
        return (type(self), (self.dwError, self.context))


def winhttp_error_name(code: int) -> str:
    """WinHTTP's name for an error code, or ``"error <code>"`` for codes it does not name."""
    return _WINHTTP_NAMES.get(code, f"error {code}")


class WinHttpError(OSError):
    """An asynchronous WinHTTP call failed: REQUEST_ERROR's WINHTTP_ASYNC_RESULT
    named the call (``api``, a WinHttpApi member, or an int for ids winhttp.h
    does not name) and the error (``errno``, and ``winerror`` as on every
    OSError on Windows; ``name`` its ERROR_WINHTTP_* name).  ``handle`` is the
    request handle the error came on, when known."""

    def __init__(self, error: int, api: int, handle: Optional[int] = None):
        from cbring._core import WinHttpApi

        self.error = error
        self.name = winhttp_error_name(error)
        self.api: Union[WinHttpApi, int] = _api_member(WinHttpApi, api)
        self.handle = handle
        what = self.api.name if isinstance(self.api, WinHttpApi) else f"API {self.api}"
        on = "" if handle is None else f" on handle {handle:#x}"
        super().__init__(error, f"{self.name} ({error}) from {what}{on}")
        if sys.platform == "win32":
            self.winerror = error

    if sys.platform != "win32":
        @property
        def winerror(self) -> int:
            return self.error

    def __reduce__(self) -> Tuple[type[WinHttpError], Tuple[int, int, Optional[int]]]:
        return (type(self), (self.error, int(self.api), self.handle))


def _api_member(enum_type: Any, value: int) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        return value


class DispatcherClosed(RuntimeError):
    """A dispatcher stopped (the ring closed and drained, stop(), aclose(), or
    its runner cancelled or failed) while this future waited.  ``__cause__``
    is the runner's exception when there was one."""


class EventsDropped(RuntimeError):
    """The ring dropped records (overflow "drop", or "block" past its
    block_timeout) while this future waited: its completion may be among
    them and can never be routed.  ``dropped`` is how many were dropped,
    ``context`` the future's dwContext."""

    def __init__(self, dropped: int, context: int):
        self.dropped = dropped
        self.context = context
        super().__init__(f"the ring dropped {dropped} record(s) while context {context} waited "
                         f"for REQUEST_COMPLETE; a dropped completion cannot be routed")

    def __reduce__(self) -> Tuple[type[EventsDropped], Tuple[int, int]]:
        return (type(self), (self.dropped, self.context))
