/* WinINet's status-callback types, exactly as wininet.h declares them.
 *
 * On Windows this is the real <wininet.h>.  Elsewhere (where cbring is
 * built, tested and fed by other native producers) it declares layout-
 * compatible definitions, and the static asserts below pin the sizes and
 * offsets that a Windows build would have.  cbring's own code uses the
 * cbr_-prefixed names, so that a program that brings its own Windows
 * compatibility layer can define CBR_NO_WININET_NAMES and keep its own.
 * A Windows program that uses WinHTTP includes <winhttp.h> before any
 * cbring header (or defines CBR_NO_WININET_H): wininet.h is then left out.
 */
#ifndef CBRING_WININET_COMPAT_H
#define CBRING_WININET_COMPAT_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"

#if defined(_WIN32) && (defined(CBR_NO_WININET_H) || defined(_WINHTTPX_) || defined(__WINE_WINHTTP_H))

/* A WinHTTP program (it included <winhttp.h> first, the SDK's or
 * mingw-w64's, or defined CBR_NO_WININET_H): <wininet.h> cannot join
 * <winhttp.h> in one translation unit, so the types come from windows.h,
 * with INTERNET_ASYNC_RESULT's layout, which is WINHTTP_ASYNC_RESULT's. */
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>

typedef LPVOID cbr_hinternet;
typedef DWORD cbr_dword;
typedef DWORD_PTR cbr_dword_ptr;
typedef struct cbr_async_result {
    DWORD_PTR dwResult;
    DWORD dwError;
} cbr_async_result;
#  define CBR_CALLBACK CALLBACK

#elif defined(_WIN32)

#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#  include <wininet.h>

typedef HINTERNET cbr_hinternet;
typedef DWORD cbr_dword;
typedef DWORD_PTR cbr_dword_ptr;
typedef INTERNET_ASYNC_RESULT cbr_async_result;
#  define CBR_CALLBACK CALLBACK

#else

typedef void *cbr_hinternet;
typedef uint32_t cbr_dword;        /* DWORD is 32 bits on every Windows ABI */
typedef uintptr_t cbr_dword_ptr;   /* ULONG_PTR: pointer-sized */
typedef struct cbr_async_result {
    cbr_dword_ptr dwResult;
    cbr_dword dwError;
} cbr_async_result;
#  define CBR_CALLBACK

#  ifndef CBR_NO_WININET_NAMES
typedef cbr_hinternet HINTERNET;
typedef cbr_dword_ptr DWORD_PTR;
typedef cbr_async_result INTERNET_ASYNC_RESULT;
typedef INTERNET_ASYNC_RESULT *LPINTERNET_ASYNC_RESULT;
#  endif

#endif

/* The status numbers, which cbring's decoder uses too: each is guarded, so
 * that wininet.h's, or a compatibility layer's included first, is kept,
 * CBR_NO_WININET_NAMES or not (a macro has no type to conflict with).  On
 * Windows, wininet.h gives them, except to a WinHTTP program (above). */
#if !defined(_WIN32) || !defined(_WININET_)
#  ifndef INTERNET_STATUS_RESOLVING_NAME
#    define INTERNET_STATUS_RESOLVING_NAME 10
#  endif
#  ifndef INTERNET_STATUS_NAME_RESOLVED
#    define INTERNET_STATUS_NAME_RESOLVED 11
#  endif
#  ifndef INTERNET_STATUS_CONNECTING_TO_SERVER
#    define INTERNET_STATUS_CONNECTING_TO_SERVER 20
#  endif
#  ifndef INTERNET_STATUS_CONNECTED_TO_SERVER
#    define INTERNET_STATUS_CONNECTED_TO_SERVER 21
#  endif
#  ifndef INTERNET_STATUS_SENDING_REQUEST
#    define INTERNET_STATUS_SENDING_REQUEST 30
#  endif
#  ifndef INTERNET_STATUS_REQUEST_SENT
#    define INTERNET_STATUS_REQUEST_SENT 31
#  endif
#  ifndef INTERNET_STATUS_RECEIVING_RESPONSE
#    define INTERNET_STATUS_RECEIVING_RESPONSE 40
#  endif
#  ifndef INTERNET_STATUS_RESPONSE_RECEIVED
#    define INTERNET_STATUS_RESPONSE_RECEIVED 41
#  endif
#  ifndef INTERNET_STATUS_CTL_RESPONSE_RECEIVED
#    define INTERNET_STATUS_CTL_RESPONSE_RECEIVED 42
#  endif
#  ifndef INTERNET_STATUS_PREFETCH
#    define INTERNET_STATUS_PREFETCH 43
#  endif
#  ifndef INTERNET_STATUS_CLOSING_CONNECTION
#    define INTERNET_STATUS_CLOSING_CONNECTION 50
#  endif
#  ifndef INTERNET_STATUS_CONNECTION_CLOSED
#    define INTERNET_STATUS_CONNECTION_CLOSED 51
#  endif
#  ifndef INTERNET_STATUS_HANDLE_CREATED
#    define INTERNET_STATUS_HANDLE_CREATED 60
#  endif
#  ifndef INTERNET_STATUS_HANDLE_CLOSING
#    define INTERNET_STATUS_HANDLE_CLOSING 70
#  endif
#  ifndef INTERNET_STATUS_DETECTING_PROXY
#    define INTERNET_STATUS_DETECTING_PROXY 80
#  endif
#  ifndef INTERNET_STATUS_REQUEST_COMPLETE
#    define INTERNET_STATUS_REQUEST_COMPLETE 100
#  endif
#  ifndef INTERNET_STATUS_REDIRECT
#    define INTERNET_STATUS_REDIRECT 110
#  endif
#  ifndef INTERNET_STATUS_INTERMEDIATE_RESPONSE
#    define INTERNET_STATUS_INTERMEDIATE_RESPONSE 120
#  endif
#  ifndef INTERNET_STATUS_USER_INPUT_REQUIRED
#    define INTERNET_STATUS_USER_INPUT_REQUIRED 140
#  endif
#  ifndef INTERNET_STATUS_STATE_CHANGE
#    define INTERNET_STATUS_STATE_CHANGE 200
#  endif
#  ifndef INTERNET_STATUS_COOKIE_SENT
#    define INTERNET_STATUS_COOKIE_SENT 320
#  endif
#  ifndef INTERNET_STATUS_COOKIE_RECEIVED
#    define INTERNET_STATUS_COOKIE_RECEIVED 321
#  endif
#  ifndef INTERNET_STATUS_PRIVACY_IMPACTED
#    define INTERNET_STATUS_PRIVACY_IMPACTED 324
#  endif
#  ifndef INTERNET_STATUS_P3P_HEADER
#    define INTERNET_STATUS_P3P_HEADER 325
#  endif
#  ifndef INTERNET_STATUS_P3P_POLICYREF
#    define INTERNET_STATUS_P3P_POLICYREF 326
#  endif
#  ifndef INTERNET_STATUS_COOKIE_HISTORY
#    define INTERNET_STATUS_COOKIE_HISTORY 327
#  endif
#endif

/* INTERNET_STATUS_CALLBACK, with cbring's portable names. */
typedef void (CBR_CALLBACK *cbr_status_callback)(cbr_hinternet hInternet,
                                                 cbr_dword_ptr dwContext,
                                                 cbr_dword dwInternetStatus,
                                                 void *lpvStatusInformation,
                                                 cbr_dword dwStatusInformationLength);

CBR_STATIC_ASSERT(sizeof(cbr_dword) == 4, "DWORD is 32 bits");
CBR_STATIC_ASSERT(sizeof(cbr_dword_ptr) == sizeof(void *), "DWORD_PTR is pointer-sized");
CBR_STATIC_ASSERT(offsetof(cbr_async_result, dwResult) == 0, "dwResult comes first");
CBR_STATIC_ASSERT(offsetof(cbr_async_result, dwError) == sizeof(void *),
                  "dwError follows dwResult");
CBR_STATIC_ASSERT(sizeof(cbr_async_result) == 2 * sizeof(void *),
                  "INTERNET_ASYNC_RESULT is padded to pointer alignment (16 bytes on 64-bit)");

#endif /* CBRING_WININET_COMPAT_H */
