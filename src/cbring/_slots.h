/* Rings that own a distinct INTERNET_STATUS_CALLBACK address.
 *
 * WinINet's callback carries no user-data pointer (dwContext belongs to the
 * application's requests), so a ring can only be told apart by the address
 * WinINet calls.  cbring compiles CBR_SLOT_COUNT callbacks, each bound to one
 * statically allocated cbr_ring.  The ring structs are never freed: a late
 * call after a Ring is closed or collected finds a closed ring and is counted
 * as late, whatever became of the Python object.  Slots are reused oldest-
 * free-first (see _core.pyx), so an address is handed out again as late as
 * possible.
 */
#ifndef CBRING_SLOTS_H
#define CBRING_SLOTS_H

#include "cbring/status.h"

#define CBR_SLOT_COUNT 1024

static CBR_ALIGNED(CBR_CACHELINE) cbr_ring cbr_slot_rings[CBR_SLOT_COUNT];

/* The one copy of the push that every slot's callback jumps to.  Inlined
 * into all 1024 callbacks it was 1.2 MB of machine code and three quarters
 * of _core.c's compile time; out of line, with the ring last so that the
 * callback's own arguments stay in their registers, a callback is a load of
 * the ring's address and a tail jump. */
#if defined(_MSC_VER)
__declspec(noinline)
#else
__attribute__((noinline))
#endif
static void cbr_slot_push(cbr_hinternet h, cbr_dword_ptr c, cbr_dword s, void *i, cbr_dword l,
                          cbr_ring *r)
{
    (void)cbr_ring_push_status(r, h, c, s, i, l);
}

#define CBR_SLOT_FN(n)                                                          \
    static void CBR_CALLBACK cbr_slot_cb_##n(cbr_hinternet h, cbr_dword_ptr c,  \
                                             cbr_dword s, void *i, cbr_dword l) \
    { cbr_slot_push(h, c, s, i, l, &cbr_slot_rings[n]); }
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

#define CBR_SLOT_REF(n) cbr_slot_cb_##n,
#define CBR_SLOT_REF16(p)                                                       \
    CBR_SLOT_REF(p##0) CBR_SLOT_REF(p##1) CBR_SLOT_REF(p##2) CBR_SLOT_REF(p##3) \
    CBR_SLOT_REF(p##4) CBR_SLOT_REF(p##5) CBR_SLOT_REF(p##6) CBR_SLOT_REF(p##7) \
    CBR_SLOT_REF(p##8) CBR_SLOT_REF(p##9) CBR_SLOT_REF(p##a) CBR_SLOT_REF(p##b) \
    CBR_SLOT_REF(p##c) CBR_SLOT_REF(p##d) CBR_SLOT_REF(p##e) CBR_SLOT_REF(p##f)
#define CBR_SLOT_REF256(p)                                                      \
    CBR_SLOT_REF16(p##0) CBR_SLOT_REF16(p##1) CBR_SLOT_REF16(p##2) CBR_SLOT_REF16(p##3) \
    CBR_SLOT_REF16(p##4) CBR_SLOT_REF16(p##5) CBR_SLOT_REF16(p##6) CBR_SLOT_REF16(p##7) \
    CBR_SLOT_REF16(p##8) CBR_SLOT_REF16(p##9) CBR_SLOT_REF16(p##a) CBR_SLOT_REF16(p##b) \
    CBR_SLOT_REF16(p##c) CBR_SLOT_REF16(p##d) CBR_SLOT_REF16(p##e) CBR_SLOT_REF16(p##f)

static const cbr_status_callback cbr_slot_callbacks[CBR_SLOT_COUNT] = {
    CBR_SLOT_REF256(0x0) CBR_SLOT_REF256(0x1) CBR_SLOT_REF256(0x2) CBR_SLOT_REF256(0x3)
};

static inline cbr_ring *cbr_slot_ring(int i) { return &cbr_slot_rings[i]; }
static inline uintptr_t cbr_slot_callback(int i) { return (uintptr_t)cbr_slot_callbacks[i]; }

/* InternetSetStatusCallback where WinINet exists.  Returns 1 and the
 * previous callback in *previous, 0 with GetLastError() in *error when
 * WinINet refused, or -1 where there is no WinINet. */
static int cbr_slot_register(uintptr_t hinternet, int i, uintptr_t *previous, unsigned long *error)
{
#if defined(_WIN32)
    INTERNET_STATUS_CALLBACK prev =
        InternetSetStatusCallback((HINTERNET)hinternet, cbr_slot_callbacks[i]);
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

#endif /* CBRING_SLOTS_H */
