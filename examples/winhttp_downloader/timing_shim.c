/* A WINHTTP_STATUS_CALLBACK that calls another one and times it with the
 * TSC, so that cbring's native callback and a ctypes thunk are timed the same
 * way, on WinHTTP's own threads: neither can time itself (the thunk's cost is
 * mostly taking the GIL before any Python runs).  bench.py loads it with
 * ctypes, sets the inner callback, registers timing_shim_callback on the
 * session, and reads the samples once timing_shim_inflight() is 0.
 *
 * Built by tests/windows/run-under-wine.sh:
 *   x86_64-w64-mingw32-gcc -std=c11 -O2 -shared timing_shim.c -o winhttp_timing_shim.dll
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <windows.h>
#include <x86intrin.h>

#define SHIM_API __declspec(dllexport)

typedef void (CALLBACK *status_callback)(void *handle, DWORD_PTR context, DWORD status,
                                         void *info, DWORD length);

static status_callback inner;      /* set before registration, read only by callbacks */
static uint32_t *samples;          /* one duration in TSC ticks per call, up to capacity */
static uint64_t capacity;
static atomic_uint_fast64_t calls;
static atomic_uint_fast64_t total_ticks;
static atomic_int_fast64_t inflight;

static uint64_t tsc_now(void)
{
    /* lfence: the reading waits for the instructions before it, so the
     * interval holds the whole call and not part of it */
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
}

SHIM_API void CALLBACK timing_shim_callback(void *handle, DWORD_PTR context, DWORD status,
                                            void *info, DWORD length)
{
    /* relaxed: a count of callbacks in progress; the reader's acquire load
     * of 0 pairs with the release decrement below */
    atomic_fetch_add_explicit(&inflight, 1, memory_order_relaxed);
    uint64_t t0 = tsc_now();
    inner(handle, context, status, info, length);
    uint64_t dt = tsc_now() - t0;
    /* relaxed: a slot index, unique per call; the samples are published by
     * the release decrement of inflight */
    uint64_t i = atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    if (i < capacity)
        samples[i] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
    /* relaxed: summed only; published by the release below */
    atomic_fetch_add_explicit(&total_ticks, dt, memory_order_relaxed);
    /* release: the reader that sees 0 (acquire) sees this call's sample and sums */
    atomic_fetch_sub_explicit(&inflight, 1, memory_order_release);
}

/* An inner callback that does nothing: what the shim itself costs. */
SHIM_API void CALLBACK timing_shim_noop(void *handle, DWORD_PTR context, DWORD status,
                                        void *info, DWORD length)
{
    (void)handle, (void)context, (void)status, (void)info, (void)length;
}

/* Not while callbacks run: between sessions only.  0 if out of memory. */
SHIM_API int timing_shim_reset(void *callback, uint64_t max_samples)
{
    free(samples);
    samples = calloc(max_samples ? max_samples : 1, sizeof *samples);
    capacity = samples ? max_samples : 0;
    inner = (status_callback)callback;
    atomic_store_explicit(&calls, 0, memory_order_relaxed);       /* relaxed: no callback runs */
    atomic_store_explicit(&total_ticks, 0, memory_order_relaxed); /* relaxed: no callback runs */
    return samples != NULL;
}

SHIM_API int64_t timing_shim_inflight(void)
{
    /* acquire: pairs with the callbacks' release decrement */
    return atomic_load_explicit(&inflight, memory_order_acquire);
}

SHIM_API uint64_t timing_shim_calls(void)
{
    return atomic_load_explicit(&calls, memory_order_relaxed); /* relaxed: read once inflight is 0 */
}

SHIM_API uint64_t timing_shim_total_ticks(void)
{
    return atomic_load_explicit(&total_ticks, memory_order_relaxed); /* relaxed: as above */
}

SHIM_API const uint32_t *timing_shim_samples(void)
{
    return samples;
}

SHIM_API uint64_t timing_shim_tsc(void)
{
    return tsc_now();
}
