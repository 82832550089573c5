/* Rings that own a distinct INTERNET_STATUS_CALLBACK address.
 *
 * WinINet's callback carries no user-data pointer (dwContext belongs to the
 * application's requests), so a ring can only be told apart by the address
 * WinINet calls.  cbring compiles CBR_SLOT_COUNT callbacks, each bound to one
 * statically allocated cbr_ring.  The ring structs are never freed: a late
 * call after a Ring is closed or collected finds a closed ring and is counted
 * as late, whatever became of the Python object.
 *
 * At most CBR_MAX_RINGS Rings exist at once, and there are twice as many
 * slots: a freed slot joins the back of a first-in, first-out queue (see
 * _core.pyx) that always holds at least CBR_SLOT_COUNT - CBR_MAX_RINGS + 1
 * slots once it is in, so an address is handed out again only after at
 * least CBR_MAX_RINGS further Rings have been created, however many live.
 */
#ifndef CBRING_SLOTS_H
#define CBRING_SLOTS_H

#ifdef CBRING_RING_H
#  error "_slots.h must be included before cbring/ring.h: its pause points interpose ring.h's atomics"
#endif

#include "cbring/atomics.h"
#include "cbring/clock.h"

/* Test-only pause points (driven by _core's _pause_* functions), placed by
 * interposing the atomics that only ring.h's cold paths use: the fetch_or
 * that closes tail, and the count of deciding producers.  This header is
 * included before ring.h, so the ring code compiled into _core calls these;
 * disarmed, each costs one relaxed load, on paths that already spin or
 * make system calls.  A pause holds its thread until _pause_resume(). */
enum cbr_pause_point {
    CBR_PAUSE_NONE = 0,
    CBR_PAUSE_CLOSE_AFTER_TAIL = 1,      /* close(): tail closed, end not yet stored */
    CBR_PAUSE_DECIDER_BEFORE_COUNT = 2,  /* a full producer, before it raises deciding */
    CBR_PAUSE_DECIDER_AFTER_COUNT = 3,   /* ... after it raised deciding */
    CBR_PAUSE_DECIDER_BEFORE_DONE = 4    /* ... before it lowers deciding */
};

static struct {
    uint32_t armed;       /* a cbr_pause_point, for the one field below */
    void *target;         /* the ring field whose atomic the pause rides on */
    uint32_t reached;     /* pauses entered so far */
    uint32_t resumed;     /* pauses released so far */
    uint32_t held_gil;    /* a pause was reached by a thread holding the GIL (and not held) */
    uint32_t count_backoffs;
    uint32_t backoffs;    /* cbr_backoff calls while count_backoffs is set */
} cbr_pause_;

/* Whether the pausing thread holds the GIL: only the Python extension can
 * tell, and only it arms pauses; C programs that include this header (the
 * Windows checks) have no GIL. */
#ifdef Py_PYTHON_H
#  define CBR_PAUSE_HOLDS_GIL() PyGILState_Check()
#else
#  define CBR_PAUSE_HOLDS_GIL() 0
#endif

static void cbr_pause_maybe_(uint32_t where, void *field)
{
    uint32_t ticket;
    unsigned round = 0;
    /* acquire: the common, disarmed case costs a plain load; pairs with cbr_pause_arm's release */
    if (cbr_load_u32(&cbr_pause_.armed, CBR_ACQUIRE) != where
        || cbr_load_ptr(&cbr_pause_.target, CBR_RELAXED) != field)
        return;
    /* relaxed: one-shot; the exchange picks the one thread that pauses */
    if (cbr_exchange_u32(&cbr_pause_.armed, CBR_PAUSE_NONE, CBR_RELAXED) != where)
        return;
    if (CBR_PAUSE_HOLDS_GIL()) {
        /* holding the GIL here would stop the test that waits for us: say so instead */
        /* relaxed: published by the release below */
        cbr_store_u32(&cbr_pause_.held_gil, 1, CBR_RELAXED);
        /* release: what this thread did so far is visible to the test that sees the count */
        cbr_fetch_add_u32(&cbr_pause_.reached, 1, CBR_RELEASE);
        /* relaxed: keeps the tickets of later pauses in step; nobody waits on this one */
        cbr_fetch_add_u32(&cbr_pause_.resumed, 1, CBR_RELAXED);
        return;
    }
    /* release: as above */
    ticket = cbr_fetch_add_u32(&cbr_pause_.reached, 1, CBR_RELEASE) + 1;
    /* acquire: what the test did while we were held happens before our next step */
    while ((int32_t)(cbr_load_u32(&cbr_pause_.resumed, CBR_ACQUIRE) - ticket) < 0)
        cbr_backoff(round < 40 ? round++ : round);
}

static inline void cbr_pause_backoff_(unsigned round)
{
    /* relaxed: counters for a test that only needs to know a spin happened */
    if (cbr_load_u32(&cbr_pause_.count_backoffs, CBR_RELAXED))
        cbr_fetch_add_u32(&cbr_pause_.backoffs, 1, CBR_RELAXED);
    cbr_backoff(round);
}

static inline uint64_t cbr_pause_fetch_or_u64_(uint64_t *p, uint64_t v, cbr_order o)
{
    uint64_t old = cbr_fetch_or_u64(p, v, o);
    cbr_pause_maybe_(CBR_PAUSE_CLOSE_AFTER_TAIL, p);
    return old;
}

static inline uint32_t cbr_pause_fetch_add_u32_(uint32_t *p, uint32_t v, cbr_order o)
{
    uint32_t old;
    cbr_pause_maybe_(CBR_PAUSE_DECIDER_BEFORE_COUNT, p);
    old = cbr_fetch_add_u32(p, v, o);
    cbr_pause_maybe_(CBR_PAUSE_DECIDER_AFTER_COUNT, p);
    return old;
}

static inline uint32_t cbr_pause_fetch_sub_u32_(uint32_t *p, uint32_t v, cbr_order o)
{
    cbr_pause_maybe_(CBR_PAUSE_DECIDER_BEFORE_DONE, p);
    return cbr_fetch_sub_u32(p, v, o);
}

/* Arms the pause at `where` on `field` (one thread, once); CBR_PAUSE_NONE disarms. */
static inline void cbr_pause_arm(uint32_t where, void *field)
{
    /* relaxed (these two): published by the release store of armed */
    cbr_store_ptr(&cbr_pause_.target, field, CBR_RELAXED);
    cbr_store_u32(&cbr_pause_.held_gil, 0, CBR_RELAXED);
    /* release: pairs with the acquire load in cbr_pause_maybe_ */
    cbr_store_u32(&cbr_pause_.armed, where, CBR_RELEASE);
}

/* acquire: what the paused thread did before its pause is visible to the caller */
static inline uint32_t cbr_pause_reached(void) { return cbr_load_u32(&cbr_pause_.reached, CBR_ACQUIRE); }
static inline uint32_t cbr_pause_held_gil(void) { return cbr_load_u32(&cbr_pause_.held_gil, CBR_ACQUIRE); }

/* Releases the oldest pause still held; returns 0 if none is (one thread resumes). */
static inline int cbr_pause_resume(void)
{
    /* relaxed: only this thread and a pause that did not hold (which adds first) move it */
    uint32_t resumed = cbr_load_u32(&cbr_pause_.resumed, CBR_RELAXED);
    if ((int32_t)(cbr_pause_reached() - resumed) <= 0)
        return 0;
    /* release: what the caller did meanwhile happens before the paused thread goes on */
    cbr_fetch_add_u32(&cbr_pause_.resumed, 1, CBR_RELEASE);
    return 1;
}

/* Starts (on != 0) or stops counting cbr_backoff calls; returns the count so far. */
static inline uint32_t cbr_pause_backoffs(int on)
{
    /* relaxed (all): a count that only says whether some thread spun */
    cbr_store_u32(&cbr_pause_.count_backoffs, (uint32_t)on, CBR_RELAXED);
    return cbr_load_u32(&cbr_pause_.backoffs, CBR_RELAXED);
}

#define cbr_fetch_or_u64 cbr_pause_fetch_or_u64_
#define cbr_fetch_add_u32 cbr_pause_fetch_add_u32_
#define cbr_fetch_sub_u32 cbr_pause_fetch_sub_u32_
#define cbr_backoff cbr_pause_backoff_

#include "cbring/status.h"
#include "cbring/winhttp.h"

#define CBR_MAX_RINGS 1024
#define CBR_SLOT_COUNT (2 * CBR_MAX_RINGS)

static CBR_ALIGNED(CBR_CACHELINE) cbr_ring cbr_slot_rings[CBR_SLOT_COUNT];

/* The one copy of each push that every slot's callbacks jump to.  Inlined
 * into each of 1024 callbacks it was 1.2 MB of machine code and three quarters
 * of _core.c's compile time; out of line, with the ring last so that the
 * callback's own arguments stay in their registers, a callback is a load of
 * the ring's address and a tail jump.  Each slot has two callbacks, one per
 * registration: WinINet hands a handle registered with
 * InternetSetStatusCallbackW its host names and URLs in UTF-16, and one
 * registered with InternetSetStatusCallbackA (or the plain export) in ANSI;
 * nothing in the call says which, so the address does.  The third is for
 * WinHttpSetStatusCallback: the same signature, WinHTTP's status numbers
 * and payloads (cbring/winhttp.h). */
#if defined(_MSC_VER)
#  define CBR_SLOT_NOINLINE __declspec(noinline)
#else
#  define CBR_SLOT_NOINLINE __attribute__((noinline))
#endif
CBR_SLOT_NOINLINE
static void cbr_slot_push(cbr_hinternet h, cbr_dword_ptr c, cbr_dword s, void *i, cbr_dword l,
                          cbr_ring *r)
{
    (void)cbr_ring_push_status(r, h, c, s, i, l);
}

CBR_SLOT_NOINLINE
static void cbr_slot_push_h(cbr_hinternet h, cbr_dword_ptr c, cbr_dword s, void *i, cbr_dword l,
                            cbr_ring *r)
{
    (void)cbr_ring_push_winhttp_status(r, h, c, s, i, l);
}

CBR_SLOT_NOINLINE
static void cbr_slot_push_w(cbr_hinternet h, cbr_dword_ptr c, cbr_dword s, void *i, cbr_dword l,
                            cbr_ring *r)
{
    (void)cbr_ring_push_status_w(r, h, c, s, i, l);
}

#define CBR_SLOT_FN(n)                                                          \
    static void CBR_CALLBACK cbr_slot_cb_##n(cbr_hinternet h, cbr_dword_ptr c,  \
                                             cbr_dword s, void *i, cbr_dword l) \
    { cbr_slot_push(h, c, s, i, l, &cbr_slot_rings[n]); }                       \
    static void CBR_CALLBACK cbr_slot_cbw_##n(cbr_hinternet h, cbr_dword_ptr c, \
                                              cbr_dword s, void *i, cbr_dword l) \
    { cbr_slot_push_w(h, c, s, i, l, &cbr_slot_rings[n]); }                     \
    static void CBR_CALLBACK cbr_slot_cbh_##n(cbr_hinternet h, cbr_dword_ptr c, \
                                              cbr_dword s, void *i, cbr_dword l) \
    { cbr_slot_push_h(h, c, s, i, l, &cbr_slot_rings[n]); }
#define CBR_SLOT_FN16(p)                                                        \
    CBR_SLOT_FN(p##0) CBR_SLOT_FN(p##1) CBR_SLOT_FN(p##2) CBR_SLOT_FN(p##3)     \
    CBR_SLOT_FN(p##4) CBR_SLOT_FN(p##5) CBR_SLOT_FN(p##6) CBR_SLOT_FN(p##7)     \
    CBR_SLOT_FN(p##8) CBR_SLOT_FN(p##9) CBR_SLOT_FN(p##a) CBR_SLOT_FN(p##b)     \
    CBR_SLOT_FN(p##c) CBR_SLOT_FN(p##d) CBR_SLOT_FN(p##e) CBR_SLOT_FN(p##f)
#define CBR_SLOT_FN256(p)                                                       \
    CBR_SLOT_FN16(p##0) CBR_SLOT_FN16(p##1) CBR_SLOT_FN16(p##2) CBR_SLOT_FN16(p##3) \
    CBR_SLOT_FN16(p##4) CBR_SLOT_FN16(p##5) CBR_SLOT_FN16(p##6) CBR_SLOT_FN16(p##7) \
    CBR_SLOT_FN16(p##8) CBR_SLOT_FN16(p##9) CBR_SLOT_FN16(p##a) CBR_SLOT_FN16(p##b) \
    CBR_SLOT_FN16(p##c) CBR_SLOT_FN16(p##d) CBR_SLOT_FN16(p##e) CBR_SLOT_FN16(p##f)

CBR_SLOT_FN256(0x0) CBR_SLOT_FN256(0x1) CBR_SLOT_FN256(0x2) CBR_SLOT_FN256(0x3)
CBR_SLOT_FN256(0x4) CBR_SLOT_FN256(0x5) CBR_SLOT_FN256(0x6) CBR_SLOT_FN256(0x7)

/* name: the callbacks' name prefix, cbr_slot_cb_ (A), cbr_slot_cbw_ (W) or cbr_slot_cbh_ (WinHTTP) */
#define CBR_SLOT_REF(name, n) name##n,
#define CBR_SLOT_REF16(name, p)                                                    \
    CBR_SLOT_REF(name, p##0) CBR_SLOT_REF(name, p##1) CBR_SLOT_REF(name, p##2) CBR_SLOT_REF(name, p##3) \
    CBR_SLOT_REF(name, p##4) CBR_SLOT_REF(name, p##5) CBR_SLOT_REF(name, p##6) CBR_SLOT_REF(name, p##7) \
    CBR_SLOT_REF(name, p##8) CBR_SLOT_REF(name, p##9) CBR_SLOT_REF(name, p##a) CBR_SLOT_REF(name, p##b) \
    CBR_SLOT_REF(name, p##c) CBR_SLOT_REF(name, p##d) CBR_SLOT_REF(name, p##e) CBR_SLOT_REF(name, p##f)
#define CBR_SLOT_REF256(name, p)                                                   \
    CBR_SLOT_REF16(name, p##0) CBR_SLOT_REF16(name, p##1) CBR_SLOT_REF16(name, p##2) CBR_SLOT_REF16(name, p##3) \
    CBR_SLOT_REF16(name, p##4) CBR_SLOT_REF16(name, p##5) CBR_SLOT_REF16(name, p##6) CBR_SLOT_REF16(name, p##7) \
    CBR_SLOT_REF16(name, p##8) CBR_SLOT_REF16(name, p##9) CBR_SLOT_REF16(name, p##a) CBR_SLOT_REF16(name, p##b) \
    CBR_SLOT_REF16(name, p##c) CBR_SLOT_REF16(name, p##d) CBR_SLOT_REF16(name, p##e) CBR_SLOT_REF16(name, p##f)
#define CBR_SLOT_TABLE(name)                                                       \
    CBR_SLOT_REF256(name, 0x0) CBR_SLOT_REF256(name, 0x1) CBR_SLOT_REF256(name, 0x2) CBR_SLOT_REF256(name, 0x3) \
    CBR_SLOT_REF256(name, 0x4) CBR_SLOT_REF256(name, 0x5) CBR_SLOT_REF256(name, 0x6) CBR_SLOT_REF256(name, 0x7)

static const cbr_status_callback cbr_slot_callbacks[CBR_SLOT_COUNT] = { CBR_SLOT_TABLE(cbr_slot_cb_) };
static const cbr_status_callback cbr_slot_callbacks_w[CBR_SLOT_COUNT] = { CBR_SLOT_TABLE(cbr_slot_cbw_) };
static const cbr_status_callback cbr_slot_callbacks_h[CBR_SLOT_COUNT] = { CBR_SLOT_TABLE(cbr_slot_cbh_) };

static inline cbr_ring *cbr_slot_ring(int i) { return &cbr_slot_rings[i]; }
static inline uintptr_t cbr_slot_callback(int i) { return (uintptr_t)cbr_slot_callbacks[i]; }
static inline uintptr_t cbr_slot_callback_w(int i) { return (uintptr_t)cbr_slot_callbacks_w[i]; }
static inline uintptr_t cbr_slot_callback_h(int i) { return (uintptr_t)cbr_slot_callbacks_h[i]; }

/* InternetSetStatusCallbackW with slot i's W callback, where WinINet
 * exists: the handle then gets its strings as that callback decodes them.
 * Returns 1 and the previous callback in *previous, 0 with GetLastError()
 * in *error when WinINet refused, or -1 where there is no WinINet. */
static int cbr_slot_register(uintptr_t hinternet, int i, uintptr_t *previous, unsigned long *error)
{
#if defined(_WIN32)
    INTERNET_STATUS_CALLBACK prev =
        InternetSetStatusCallbackW((HINTERNET)hinternet, cbr_slot_callbacks_w[i]);
    if (prev == INTERNET_INVALID_STATUS_CALLBACK) {
        *error = GetLastError();
        return 0;
    }
    *previous = (uintptr_t)prev;
    return 1;
#else
    (void)hinternet; (void)i; (void)previous; (void)error;
    return -1;
#endif
}

/* WinHttpSetStatusCallback with slot i's WinHTTP callback.  Found at run
 * time in winhttp.dll (loaded already in any process that has a WinHTTP
 * handle to give), not linked: <winhttp.h>, which declares it, cannot
 * share this translation unit with the <wininet.h> that the W
 * registration needs, and _core then needs no import library of
 * WinHTTP's.  Returns as cbr_slot_register; *error is
 * ERROR_PROC_NOT_FOUND (or LoadLibrary's error) without the function. */
#if defined(_WIN32)
typedef cbr_status_callback (WINAPI *cbr_winhttp_set_status_callback_fn)(
    HINTERNET, cbr_status_callback, DWORD, DWORD_PTR);
#  define CBR_WINHTTP_INVALID_STATUS_CALLBACK ((cbr_status_callback)(intptr_t)-1)
#endif

static inline int cbr_slot_register_winhttp(uintptr_t hinternet, int i, uint32_t notifications,
                                            uintptr_t *previous, unsigned long *error)
{
#if defined(_WIN32)
    cbr_winhttp_set_status_callback_fn set;
    cbr_status_callback prev;
    HMODULE dll = GetModuleHandleW(L"winhttp.dll");
    if (dll == NULL)
        dll = LoadLibraryExW(L"winhttp.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
    if (dll == NULL) {
        *error = GetLastError();
        return 0;
    }
    /* the cast through FARPROC's void-returning shape is how GetProcAddress is meant to be used */
    set = (cbr_winhttp_set_status_callback_fn)(void (*)(void))GetProcAddress(dll, "WinHttpSetStatusCallback");
    if (set == NULL) {
        *error = GetLastError();
        return 0;
    }
    prev = set((HINTERNET)hinternet, cbr_slot_callbacks_h[i], (DWORD)notifications, 0);
    if (prev == CBR_WINHTTP_INVALID_STATUS_CALLBACK) {
        *error = GetLastError();
        return 0;
    }
    *previous = (uintptr_t)prev;
    return 1;
#else
    (void)hinternet; (void)i; (void)notifications; (void)previous; (void)error;
    return -1;
#endif
}

#endif /* CBRING_SLOTS_H */
