/* The consumer's wake-up descriptor: readable when a producer signalled it.
 *
 * Linux uses an eventfd (one descriptor, an 8-byte counter), other POSIX
 * systems a non-blocking pipe, and Windows a connected loopback socket pair,
 * because select() and asyncio's selector loops accept only sockets there.
 * Signalling is thread-safe, never blocks and never allocates; the ring
 * calls it only when a consumer has said it is about to sleep.
 */
#ifndef CBRING_WAKEUP_H
#define CBRING_WAKEUP_H

#include <stdint.h>

#include "atomics.h"
#include "clock.h"

#if defined(_MSC_VER) && !defined(__clang__)
#  define CBR_COLD static __declspec(noinline)
#else
#  define CBR_COLD static __attribute__((unused, noinline))
#endif

#if defined(_WIN32)
#  include <string.h>
#  include <winsock2.h>
#elif defined(__linux__)
#  include <errno.h>
#  include <poll.h>
#  include <sys/eventfd.h>
#  include <unistd.h>
#else
#  include <errno.h>
#  include <fcntl.h>
#  include <poll.h>
#  include <unistd.h>
#endif

typedef struct cbr_wakeup {
    intptr_t rfd;  /* what the consumer polls: eventfd, pipe read end, or SOCKET */
    intptr_t wfd;  /* what producers write: the same eventfd, pipe write end, or SOCKET */
} cbr_wakeup;

#if defined(_WIN32)

/* 1 if b is the far end of a: the listener was open to any local process
 * until closed, so the connection accepted must be checked (as CPython's
 * socket.socketpair() does). */
CBR_COLD int cbr_wakeup_is_pair_(SOCKET a, SOCKET b)
{
    struct sockaddr_in mine, peer;
    int mlen = (int)sizeof mine, plen = (int)sizeof peer;
    return getsockname(a, (struct sockaddr *)&mine, &mlen) == 0
        && getpeername(b, (struct sockaddr *)&peer, &plen) == 0
        && mine.sin_port == peer.sin_port && mine.sin_addr.s_addr == peer.sin_addr.s_addr;
}

/* Returns 0, or the WSA error code. */
CBR_COLD int cbr_wakeup_open(cbr_wakeup *w)
{
    WSADATA wsa;
    SOCKET listener = INVALID_SOCKET, a = INVALID_SOCKET, b = INVALID_SOCKET;
    struct sockaddr_in addr;
    int len = (int)sizeof addr, err = 0;
    u_long nonblocking = 1;
    BOOL nodelay = TRUE;

    w->rfd = w->wfd = (intptr_t)INVALID_SOCKET;
    if ((err = WSAStartup(MAKEWORD(2, 2), &wsa)) != 0)
        return err;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)) == INVALID_SOCKET
        || bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0
        || getsockname(listener, (struct sockaddr *)&addr, &len) != 0
        || listen(listener, 1) != 0
        || (a = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)) == INVALID_SOCKET
        || connect(a, (struct sockaddr *)&addr, sizeof addr) != 0
        || (b = accept(listener, NULL, NULL)) == INVALID_SOCKET
        || (!cbr_wakeup_is_pair_(a, b) && (WSASetLastError(WSAECONNABORTED), 1))
        /* no Nagle delay: a wake-up sent while the last one is unacknowledged goes at once */
        || setsockopt(a, IPPROTO_TCP, TCP_NODELAY, (const char *)&nodelay, (int)sizeof nodelay) != 0
        || ioctlsocket(a, FIONBIO, &nonblocking) != 0
        || ioctlsocket(b, FIONBIO, &nonblocking) != 0) {
        err = WSAGetLastError();
        if (a != INVALID_SOCKET) closesocket(a);
        if (b != INVALID_SOCKET) closesocket(b);
        if (listener != INVALID_SOCKET) closesocket(listener);
        WSACleanup();
        return err ? err : WSAEINVAL;
    }
    closesocket(listener);
    w->rfd = (intptr_t)b;
    w->wfd = (intptr_t)a;
    return 0;
}

/* How often a refused wake-up byte is sent again (under Wine the longest
 * refusal seen, 16 in 30 runs of the router round, lasted 25 rounds). */
#define CBR_WAKEUP_SEND_ROUNDS 256
/* Past it cbr_backoff sleeps; a producer only yields. */
#define CBR_WAKEUP_LAST_BACKOFF 31

CBR_COLD void cbr_wakeup_signal(cbr_wakeup *w)
{
    char one = 1;
    unsigned round;
    /* WSAEWOULDBLOCK from a full socket means it holds unread bytes, readable
     * anyway; but Wine 8 also answers it, now and then, while the read end
     * holds nothing, and a send a moment later goes through (seen from the
     * thread that runs the loop, in WinHTTP's inline callbacks: without
     * this, tests/windows/winhttp_check.py's router round slept forever).
     * So a refusal counts as delivered only once the read end shows a byte;
     * one the consumer cleared meanwhile is sent again, a spurious wake-up. */
    for (round = 0; send((SOCKET)w->wfd, &one, 1, 0) != 1; round++) {
        u_long queued = 0;
        if (WSAGetLastError() != WSAEWOULDBLOCK || round == CBR_WAKEUP_SEND_ROUNDS)
            return;
        if (ioctlsocket((SOCKET)w->rfd, FIONREAD, &queued) == 0 && queued > 0)
            return;
        cbr_backoff(round < CBR_WAKEUP_LAST_BACKOFF ? round : CBR_WAKEUP_LAST_BACKOFF);
    }
}

CBR_COLD void cbr_wakeup_clear(cbr_wakeup *w)
{
    char buf[64];
    while (recv((SOCKET)w->rfd, buf, (int)sizeof buf, 0) > 0) {}
}

/* 1 readable, 0 timed out. */
CBR_COLD int cbr_wakeup_poll(cbr_wakeup *w, int timeout_ms)
{
    fd_set rd;
    struct timeval tv;
    FD_ZERO(&rd);
    FD_SET((SOCKET)w->rfd, &rd);
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    return select(0, &rd, NULL, NULL, timeout_ms < 0 ? NULL : &tv) > 0;
}

CBR_COLD void cbr_wakeup_close(cbr_wakeup *w)
{
    if ((SOCKET)w->rfd != INVALID_SOCKET) closesocket((SOCKET)w->rfd);
    if ((SOCKET)w->wfd != INVALID_SOCKET) closesocket((SOCKET)w->wfd);
    w->rfd = w->wfd = (intptr_t)INVALID_SOCKET;
    WSACleanup();
}

#else /* POSIX */

/* Returns 0, or an errno value. */
CBR_COLD int cbr_wakeup_open(cbr_wakeup *w)
{
#if defined(__linux__)
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return errno;
    w->rfd = w->wfd = fd;
#else
    int fds[2], i;
    if (pipe(fds) != 0)
        return errno;
    for (i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) != 0
            || fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            int err = errno;
            close(fds[0]);
            close(fds[1]);
            return err;
        }
    }
    w->rfd = fds[0];
    w->wfd = fds[1];
#endif
    return 0;
}

CBR_COLD void cbr_wakeup_signal(cbr_wakeup *w)
{
    /* EAGAIN means the descriptor is already readable, which is all we want. */
#if defined(__linux__)
    uint64_t one = 1;
    ssize_t r = write((int)w->wfd, &one, sizeof one);
#else
    char one = 1;
    ssize_t r = write((int)w->wfd, &one, 1);
#endif
    (void)r;
}

CBR_COLD void cbr_wakeup_clear(cbr_wakeup *w)
{
#if defined(__linux__)
    uint64_t v;
    ssize_t r = read((int)w->rfd, &v, sizeof v);
    (void)r;
#else
    char buf[64];
    while (read((int)w->rfd, buf, sizeof buf) > 0) {}
#endif
}

/* 1 readable, 0 timed out or interrupted (the caller re-checks and loops). */
CBR_COLD int cbr_wakeup_poll(cbr_wakeup *w, int timeout_ms)
{
    struct pollfd p;
    p.fd = (int)w->rfd;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, timeout_ms) > 0;
}

CBR_COLD void cbr_wakeup_close(cbr_wakeup *w)
{
    if (w->rfd >= 0) close((int)w->rfd);
    if (w->wfd >= 0 && w->wfd != w->rfd) close((int)w->wfd);
    w->rfd = w->wfd = -1;
}

#endif

#endif /* CBRING_WAKEUP_H */
