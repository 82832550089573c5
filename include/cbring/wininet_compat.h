/* WinINet's status-callback types, exactly as wininet.h declares them.
 *
 * On Windows this is the real <wininet.h>.  Elsewhere (where cbring is
 * built, tested and fed by other native producers) it declares layout-
 * compatible definitions, and the static asserts below pin the sizes and
 * offsets that a Windows build would have.  cbring's own code uses the
 * cbr_-prefixed names, so that a program that brings its own Windows
 * compatibility layer can define CBR_NO_WININET_NAMES and keep its own.
 */
#ifndef CBRING_WININET_COMPAT_H
#define CBRING_WININET_COMPAT_H

#include <stddef.h>
#include <stdint.h>

#include "atomics.h"

#if defined(_WIN32)

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
#    define INTERNET_STATUS_RESOLVING_NAME          10
#    define INTERNET_STATUS_NAME_RESOLVED           11
#    define INTERNET_STATUS_CONNECTING_TO_SERVER    20
#    define INTERNET_STATUS_CONNECTED_TO_SERVER     21
#    define INTERNET_STATUS_SENDING_REQUEST         30
#    define INTERNET_STATUS_REQUEST_SENT            31
#    define INTERNET_STATUS_RECEIVING_RESPONSE      40
#    define INTERNET_STATUS_RESPONSE_RECEIVED       41
#    define INTERNET_STATUS_CTL_RESPONSE_RECEIVED   42
#    define INTERNET_STATUS_PREFETCH                43
#    define INTERNET_STATUS_CLOSING_CONNECTION      50
#    define INTERNET_STATUS_CONNECTION_CLOSED       51
#    define INTERNET_STATUS_HANDLE_CREATED          60
#    define INTERNET_STATUS_HANDLE_CLOSING          70
#    define INTERNET_STATUS_DETECTING_PROXY         80
#    define INTERNET_STATUS_REQUEST_COMPLETE        100
#    define INTERNET_STATUS_REDIRECT                110
#    define INTERNET_STATUS_INTERMEDIATE_RESPONSE   120
#    define INTERNET_STATUS_USER_INPUT_REQUIRED     140
#    define INTERNET_STATUS_STATE_CHANGE            200
#    define INTERNET_STATUS_COOKIE_SENT             320
#    define INTERNET_STATUS_COOKIE_RECEIVED         321
#    define INTERNET_STATUS_PRIVACY_IMPACTED        324
#    define INTERNET_STATUS_P3P_HEADER              325
#    define INTERNET_STATUS_P3P_POLICYREF           326
#    define INTERNET_STATUS_COOKIE_HISTORY          327
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
