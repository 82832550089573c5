/* Time and backing off, for the slow paths that are allowed to wait:
 * the "block" overflow policy and the consumer's close handshake. */
#ifndef CBRING_CLOCK_H
#define CBRING_CLOCK_H

#include <stdint.h>

#include "atomics.h"

#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <windows.h>
#else
#  include <sched.h>
#  include <time.h>
#endif

/* Monotonic nanoseconds from an arbitrary origin. */
static inline uint64_t cbr_now_ns(void)
{
#if defined(_WIN32)
    LARGE_INTEGER f, c;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&c);
    return (uint64_t)((double)c.QuadPart * 1e9 / (double)f.QuadPart);
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* Waits a little longer each round: a few pause instructions while the
 * other side is likely mid-operation, then the scheduler, then short sleeps
 * so that a waiter on a busy 2-core machine does not starve the thread it
 * is waiting for. */
static inline void cbr_backoff(unsigned round)
{
    if (round < 16) {
        unsigned i;
        for (i = 0; i < (1u << (round / 4)); i++)
            cbr_cpu_relax();
    } else if (round < 32) {
#if defined(_WIN32)
        SwitchToThread();
#else
        sched_yield();
#endif
    } else {
#if defined(_WIN32)
        Sleep(1);
#else
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
#endif
    }
}

#endif /* CBRING_CLOCK_H */
