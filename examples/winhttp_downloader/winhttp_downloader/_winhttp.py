"""winhttp.dll through ctypes: the calls a downloader makes, with their C
signatures (winhttp.h), and the constants it needs.

Every function is bound with argtypes and restype, so a handle (a pointer)
is never cut to 32 bits, and with use_last_error, so that a FALSE or NULL
result can be explained by ctypes.get_last_error()."""

import ctypes
import sys
from ctypes import wintypes

HINTERNET = ctypes.c_void_p
DWORD = wintypes.DWORD
# void CALLBACK (HINTERNET, DWORD_PTR dwContext, DWORD dwInternetStatus,
#                LPVOID lpvStatusInformation, DWORD dwStatusInformationLength)
WINHTTP_STATUS_CALLBACK = (ctypes.WINFUNCTYPE if sys.platform == "win32" else ctypes.CFUNCTYPE)(
    None, HINTERNET, ctypes.c_size_t, DWORD, ctypes.c_void_p, DWORD)

WINHTTP_ACCESS_TYPE_NO_PROXY = 1
WINHTTP_FLAG_ASYNC = 0x10000000
WINHTTP_FLAG_REFRESH = 0x00000100
WINHTTP_CALLBACK_FLAG_ALL_NOTIFICATIONS = 0xFFFFFFFF
WINHTTP_INVALID_STATUS_CALLBACK = ctypes.c_void_p(-1).value
WINHTTP_QUERY_CONTENT_LENGTH = 5
WINHTTP_QUERY_STATUS_CODE = 19
WINHTTP_QUERY_FLAG_NUMBER = 0x20000000
ERROR_IO_PENDING = 997
ERROR_INSUFFICIENT_BUFFER = 122
ERROR_WINHTTP_HEADER_NOT_FOUND = 12150

_SIGNATURES = [
    ("WinHttpOpen", HINTERNET, [wintypes.LPCWSTR, DWORD, wintypes.LPCWSTR, wintypes.LPCWSTR, DWORD]),
    ("WinHttpConnect", HINTERNET, [HINTERNET, wintypes.LPCWSTR, wintypes.WORD, DWORD]),
    ("WinHttpOpenRequest", HINTERNET, [HINTERNET, wintypes.LPCWSTR, wintypes.LPCWSTR, wintypes.LPCWSTR,
                                       wintypes.LPCWSTR, ctypes.POINTER(wintypes.LPCWSTR), DWORD]),
    ("WinHttpSendRequest", wintypes.BOOL, [HINTERNET, wintypes.LPCWSTR, DWORD, ctypes.c_void_p, DWORD,
                                           DWORD, ctypes.c_size_t]),
    ("WinHttpReceiveResponse", wintypes.BOOL, [HINTERNET, ctypes.c_void_p]),
    ("WinHttpQueryHeaders", wintypes.BOOL, [HINTERNET, DWORD, wintypes.LPCWSTR, ctypes.c_void_p,
                                            ctypes.POINTER(DWORD), ctypes.POINTER(DWORD)]),
    ("WinHttpQueryDataAvailable", wintypes.BOOL, [HINTERNET, ctypes.POINTER(DWORD)]),
    ("WinHttpReadData", wintypes.BOOL, [HINTERNET, ctypes.c_void_p, DWORD, ctypes.POINTER(DWORD)]),
    ("WinHttpCloseHandle", wintypes.BOOL, [HINTERNET]),
    # the callback as a plain address: cbring's (an int) and a ctypes thunk's alike
    ("WinHttpSetStatusCallback", ctypes.c_void_p, [HINTERNET, ctypes.c_void_p, DWORD, ctypes.c_size_t]),
]


def load():
    """winhttp.dll with every function above bound; OSError where there is none."""
    dll = ctypes.WinDLL("winhttp", use_last_error=True)
    for name, restype, argtypes in _SIGNATURES:
        f = getattr(dll, name)
        f.restype, f.argtypes = restype, argtypes
    return dll


def query_number(dll, hrequest, info_level):
    """A numeric header (WINHTTP_QUERY_FLAG_NUMBER), or None if the response has none."""
    value, size = DWORD(0), DWORD(ctypes.sizeof(DWORD))
    if dll.WinHttpQueryHeaders(hrequest, info_level | WINHTTP_QUERY_FLAG_NUMBER, None,
                               ctypes.byref(value), ctypes.byref(size), None):
        return value.value
    error = ctypes.get_last_error()
    if error == ERROR_WINHTTP_HEADER_NOT_FOUND:
        return None
    raise ctypes.WinError(error, f"WinHttpQueryHeaders({info_level}) failed")
