/* Portable atomics for cbring's C core.
 *
 * The ring's fields are plain integers and pointers so that Cython and C++
 * can declare the struct without knowing about _Atomic; every access to a
 * shared field goes through one of these functions, each with an explicit
 * memory order.  GCC and Clang use the __atomic builtins (which
 * ThreadSanitizer understands); MSVC uses its interlocked intrinsics, which
 * on x64 are full barriers, and on ARM64 barriers and the interlocked
 * functions' ordered forms.  CBR_ATOMICS_IMPL names the branch taken.
 */
#ifndef CBRING_ATOMICS_H
#define CBRING_ATOMICS_H

#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__)
#  include <intrin.h>
#  define CBR_ALIGNED(n) __declspec(align(n))
#  define CBR_INLINE static __forceinline
#else
#  define CBR_ALIGNED(n) __attribute__((aligned(n)))
#  define CBR_INLINE static inline __attribute__((always_inline))
#endif

/* 64 bytes covers x86-64 and most ARM64 cores; Apple's M-series prefetch
 * pairs of lines, but fields are split by who writes them, so 64 is enough
 * to stop producers and the consumer from invalidating each other's line. */
#define CBR_CACHELINE 64

#if defined(__cplusplus)
#  define CBR_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#elif defined(_MSC_VER) && !defined(__clang__)
/* MSVC's C mode has _Static_assert only with /std:c11, which setuptools does
 * not pass: a negative array size fails the build instead.  Two levels of
 * macros, so that __COUNTER__ expands and every assert has its own name. */
#  define CBR_STATIC_ASSERT(cond, msg) CBR_STATIC_ASSERT_(cond, __COUNTER__)
#  define CBR_STATIC_ASSERT_(cond, n) CBR_STATIC_ASSERT__(cond, n)
#  define CBR_STATIC_ASSERT__(cond, n) typedef char cbr_static_assert_##n[(cond) ? 1 : -1]
#else
#  define CBR_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

typedef enum cbr_order {
    CBR_RELAXED,
    CBR_ACQUIRE,
    CBR_RELEASE,
    CBR_ACQ_REL,
    CBR_SEQ_CST
} cbr_order;

#if !defined(_MSC_VER) || defined(__clang__)
#define CBR_ATOMICS_IMPL "gnu"

/* The builtins want constants; these switches fold away at -O1 and above. */
#define CBR_GNU_ORDER(o)                                        \
    ((o) == CBR_RELAXED ? __ATOMIC_RELAXED :                    \
     (o) == CBR_ACQUIRE ? __ATOMIC_ACQUIRE :                    \
     (o) == CBR_RELEASE ? __ATOMIC_RELEASE :                    \
     (o) == CBR_ACQ_REL ? __ATOMIC_ACQ_REL : __ATOMIC_SEQ_CST)

CBR_INLINE uint64_t cbr_load_u64(const uint64_t *p, cbr_order o)
{ return __atomic_load_n(p, CBR_GNU_ORDER(o)); }
CBR_INLINE uint32_t cbr_load_u32(const uint32_t *p, cbr_order o)
{ return __atomic_load_n(p, CBR_GNU_ORDER(o)); }
CBR_INLINE void *cbr_load_ptr(void *const *p, cbr_order o)
{ return __atomic_load_n(p, CBR_GNU_ORDER(o)); }

CBR_INLINE void cbr_store_u64(uint64_t *p, uint64_t v, cbr_order o)
{ __atomic_store_n(p, v, CBR_GNU_ORDER(o)); }
CBR_INLINE void cbr_store_u32(uint32_t *p, uint32_t v, cbr_order o)
{ __atomic_store_n(p, v, CBR_GNU_ORDER(o)); }
CBR_INLINE void cbr_store_ptr(void **p, void *v, cbr_order o)
{ __atomic_store_n(p, v, CBR_GNU_ORDER(o)); }

CBR_INLINE uint64_t cbr_fetch_add_u64(uint64_t *p, uint64_t v, cbr_order o)
{ return __atomic_fetch_add(p, v, CBR_GNU_ORDER(o)); }
CBR_INLINE uint32_t cbr_fetch_add_u32(uint32_t *p, uint32_t v, cbr_order o)
{ return __atomic_fetch_add(p, v, CBR_GNU_ORDER(o)); }
CBR_INLINE uint32_t cbr_fetch_sub_u32(uint32_t *p, uint32_t v, cbr_order o)
{ return __atomic_fetch_sub(p, v, CBR_GNU_ORDER(o)); }
CBR_INLINE uint64_t cbr_fetch_or_u64(uint64_t *p, uint64_t v, cbr_order o)
{ return __atomic_fetch_or(p, v, CBR_GNU_ORDER(o)); }

CBR_INLINE uint32_t cbr_exchange_u32(uint32_t *p, uint32_t v, cbr_order o)
{ return __atomic_exchange_n(p, v, CBR_GNU_ORDER(o)); }
CBR_INLINE uint64_t cbr_exchange_u64(uint64_t *p, uint64_t v, cbr_order o)
{ return __atomic_exchange_n(p, v, CBR_GNU_ORDER(o)); }
CBR_INLINE void *cbr_exchange_ptr(void **p, void *v, cbr_order o)
{ return __atomic_exchange_n(p, v, CBR_GNU_ORDER(o)); }

/* On failure *expected receives the current value, as in C11. */
CBR_INLINE int cbr_cas_u64(uint64_t *p, uint64_t *expected, uint64_t desired,
                           cbr_order success, cbr_order failure)
{ return __atomic_compare_exchange_n(p, expected, desired, 1,
                                     CBR_GNU_ORDER(success), CBR_GNU_ORDER(failure)); }
CBR_INLINE int cbr_cas_ptr(void **p, void **expected, void *desired,
                           cbr_order success, cbr_order failure)
{ return __atomic_compare_exchange_n(p, expected, desired, 1,
                                     CBR_GNU_ORDER(success), CBR_GNU_ORDER(failure)); }

CBR_INLINE void cbr_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#else /* MSVC */

#if !defined(_WIN64)
#  error "cbring supports 64-bit Windows only: 64-bit loads and stores must be single instructions"
#endif

#if defined(_M_ARM64)
#  define CBR_ATOMICS_IMPL "msvc-arm64"

/* ARM64 with only the intrinsics Microsoft documents for it and clang also
 * knows: __iso_volatile_load/store (a plain ldr/str, whatever /volatile says),
 * __dmb, and the interlocked functions' _nf, _acq and _rel forms.  The
 * mapping is the fence mapping of C11 to ARMv8: seq_cst stores and
 * read-modify-writes end with a full barrier, so seq_cst loads need only
 * the barrier after them.  _ReadWriteBarrier keeps the compiler in step. */

/* dmb ish: orders every earlier load and store before every later one, for
 * all cores of the inner shareable domain, which holds every thread */
#  define CBR_MSVC_DMB() do { _ReadWriteBarrier(); __dmb(_ARM64_BARRIER_ISH); _ReadWriteBarrier(); } while (0)

CBR_INLINE uint64_t cbr_load_u64(const uint64_t *p, cbr_order o)
{
    uint64_t v = (uint64_t)__iso_volatile_load64((const volatile __int64 *)p);
    /* acquire, seq_cst: no later access is done before the load */
    if (o != CBR_RELAXED) CBR_MSVC_DMB();
    return v;
}
CBR_INLINE uint32_t cbr_load_u32(const uint32_t *p, cbr_order o)
{
    uint32_t v = (uint32_t)__iso_volatile_load32((const volatile __int32 *)p);
    /* acquire, seq_cst: no later access is done before the load */
    if (o != CBR_RELAXED) CBR_MSVC_DMB();
    return v;
}

CBR_INLINE void cbr_store_u64(uint64_t *p, uint64_t v, cbr_order o)
{
    /* release, seq_cst: every earlier access is done before the store */
    if (o != CBR_RELAXED) CBR_MSVC_DMB();
    __iso_volatile_store64((volatile __int64 *)p, (__int64)v);
    /* seq_cst: and before any later seq_cst load, which has no leading barrier */
    if (o == CBR_SEQ_CST) CBR_MSVC_DMB();
}
CBR_INLINE void cbr_store_u32(uint32_t *p, uint32_t v, cbr_order o)
{
    /* release, seq_cst: every earlier access is done before the store */
    if (o != CBR_RELAXED) CBR_MSVC_DMB();
    __iso_volatile_store32((volatile __int32 *)p, (__int32)v);
    /* seq_cst: and before any later seq_cst load, which has no leading barrier */
    if (o == CBR_SEQ_CST) CBR_MSVC_DMB();
}

/* A function body, every path a return (so cl.exe sees no C4715): the
 * read-modify-write fn(args) of this type in order o.  _nf has no ordering
 * (relaxed), _acq orders its load before later accesses (acquire), _rel
 * its store after earlier ones (release); acq_rel and seq_cst put a full
 * barrier on each side of the _nf form, as seq_cst stores do. */
#  define CBR_MSVC_RMW(type, o, fn, args)                                       \
    {                                                                           \
        type rmw_result_;                                                       \
        if ((o) == CBR_RELAXED) return (type)fn##_nf args;                      \
        if ((o) == CBR_ACQUIRE) return (type)fn##_acq args;                     \
        if ((o) == CBR_RELEASE) return (type)fn##_rel args;                     \
        CBR_MSVC_DMB();                                                         \
        rmw_result_ = (type)fn##_nf args;                                       \
        CBR_MSVC_DMB();                                                         \
        return rmw_result_;                                                     \
    }

CBR_INLINE uint64_t cbr_fetch_add_u64(uint64_t *p, uint64_t v, cbr_order o)
CBR_MSVC_RMW(uint64_t, o, _InterlockedExchangeAdd64, ((volatile __int64 *)p, (__int64)v))
CBR_INLINE uint32_t cbr_fetch_add_u32(uint32_t *p, uint32_t v, cbr_order o)
CBR_MSVC_RMW(uint32_t, o, _InterlockedExchangeAdd, ((volatile long *)p, (long)v))
CBR_INLINE uint32_t cbr_fetch_sub_u32(uint32_t *p, uint32_t v, cbr_order o)
CBR_MSVC_RMW(uint32_t, o, _InterlockedExchangeAdd, ((volatile long *)p, (long)(0u - v)))
CBR_INLINE uint64_t cbr_fetch_or_u64(uint64_t *p, uint64_t v, cbr_order o)
CBR_MSVC_RMW(uint64_t, o, _InterlockedOr64, ((volatile __int64 *)p, (__int64)v))
CBR_INLINE uint32_t cbr_exchange_u32(uint32_t *p, uint32_t v, cbr_order o)
CBR_MSVC_RMW(uint32_t, o, _InterlockedExchange, ((volatile long *)p, (long)v))
CBR_INLINE uint64_t cbr_exchange_u64(uint64_t *p, uint64_t v, cbr_order o)
CBR_MSVC_RMW(uint64_t, o, _InterlockedExchange64, ((volatile __int64 *)p, (__int64)v))

/* The order a compare-exchange needs to give both outcomes theirs: a
 * failed one is a load, so it asks for at most acquire. */
CBR_INLINE cbr_order cbr_msvc_cas_order_(cbr_order success, cbr_order failure)
{
    if (success == CBR_SEQ_CST || failure == CBR_SEQ_CST) return CBR_SEQ_CST;
    if (failure == CBR_ACQUIRE && success == CBR_RELEASE) return CBR_ACQ_REL;
    if (failure == CBR_ACQUIRE && success == CBR_RELAXED) return CBR_ACQUIRE;
    return success;
}
CBR_INLINE uint64_t cbr_msvc_cas_(uint64_t *p, uint64_t expected, uint64_t desired, cbr_order o)
CBR_MSVC_RMW(uint64_t, o, _InterlockedCompareExchange64,
             ((volatile __int64 *)p, (__int64)desired, (__int64)expected))
CBR_INLINE int cbr_cas_u64(uint64_t *p, uint64_t *expected, uint64_t desired,
                           cbr_order success, cbr_order failure)
{
    uint64_t old = cbr_msvc_cas_(p, *expected, desired, cbr_msvc_cas_order_(success, failure));
    if (old == *expected) return 1;
    *expected = old;
    return 0;
}

CBR_INLINE void cbr_cpu_relax(void)
{
    __yield();
}

#elif defined(_M_X64)
#  define CBR_ATOMICS_IMPL "msvc-x64"

/* x64 is TSO: an aligned plain load is an acquire and an aligned plain
 * store a release once _ReadWriteBarrier fences the compiler; a seq_cst
 * store needs the implicit lock of xchg; every interlocked function is a
 * locked instruction, a full barrier, which is at least any order asked. */

CBR_INLINE uint64_t cbr_load_u64(const uint64_t *p, cbr_order o)
{ uint64_t v = *(volatile const uint64_t *)p; (void)o; _ReadWriteBarrier(); return v; }
CBR_INLINE uint32_t cbr_load_u32(const uint32_t *p, cbr_order o)
{ uint32_t v = *(volatile const uint32_t *)p; (void)o; _ReadWriteBarrier(); return v; }

CBR_INLINE void cbr_store_u64(uint64_t *p, uint64_t v, cbr_order o)
{
    if (o == CBR_SEQ_CST) { _InterlockedExchange64((volatile __int64 *)p, (__int64)v); return; }
    _ReadWriteBarrier();
    *(volatile uint64_t *)p = v;
}
CBR_INLINE void cbr_store_u32(uint32_t *p, uint32_t v, cbr_order o)
{
    if (o == CBR_SEQ_CST) { _InterlockedExchange((volatile long *)p, (long)v); return; }
    _ReadWriteBarrier();
    *(volatile uint32_t *)p = v;
}

CBR_INLINE uint64_t cbr_fetch_add_u64(uint64_t *p, uint64_t v, cbr_order o)
{ (void)o; return (uint64_t)_InterlockedExchangeAdd64((volatile __int64 *)p, (__int64)v); }
CBR_INLINE uint32_t cbr_fetch_add_u32(uint32_t *p, uint32_t v, cbr_order o)
{ (void)o; return (uint32_t)_InterlockedExchangeAdd((volatile long *)p, (long)v); }
CBR_INLINE uint32_t cbr_fetch_sub_u32(uint32_t *p, uint32_t v, cbr_order o)
{ (void)o; return (uint32_t)_InterlockedExchangeAdd((volatile long *)p, (long)(0u - v)); }
CBR_INLINE uint64_t cbr_fetch_or_u64(uint64_t *p, uint64_t v, cbr_order o)
{ (void)o; return (uint64_t)_InterlockedOr64((volatile __int64 *)p, (__int64)v); }
CBR_INLINE uint32_t cbr_exchange_u32(uint32_t *p, uint32_t v, cbr_order o)
{ (void)o; return (uint32_t)_InterlockedExchange((volatile long *)p, (long)v); }
CBR_INLINE uint64_t cbr_exchange_u64(uint64_t *p, uint64_t v, cbr_order o)
{ (void)o; return (uint64_t)_InterlockedExchange64((volatile __int64 *)p, (__int64)v); }

CBR_INLINE int cbr_cas_u64(uint64_t *p, uint64_t *expected, uint64_t desired,
                           cbr_order success, cbr_order failure)
{
    __int64 old = _InterlockedCompareExchange64((volatile __int64 *)p, (__int64)desired,
                                                (__int64)*expected);
    (void)success; (void)failure;
    if ((uint64_t)old == *expected) return 1;
    *expected = (uint64_t)old;
    return 0;
}

CBR_INLINE void cbr_cpu_relax(void)
{
    _mm_pause();
}

#else
#  error "cbring's MSVC atomics know x64 and ARM64 only"
#endif

/* _WIN64: pointers are 64-bit, so the 64-bit operations carry them. */
CBR_INLINE void *cbr_load_ptr(void *const *p, cbr_order o)
{ return (void *)(uintptr_t)cbr_load_u64((const uint64_t *)p, o); }
CBR_INLINE void cbr_store_ptr(void **p, void *v, cbr_order o)
{ cbr_store_u64((uint64_t *)p, (uint64_t)(uintptr_t)v, o); }
CBR_INLINE void *cbr_exchange_ptr(void **p, void *v, cbr_order o)
{ return (void *)(uintptr_t)cbr_exchange_u64((uint64_t *)p, (uint64_t)(uintptr_t)v, o); }
CBR_INLINE int cbr_cas_ptr(void **p, void **expected, void *desired,
                           cbr_order success, cbr_order failure)
{
    return cbr_cas_u64((uint64_t *)p, (uint64_t *)expected, (uint64_t)(uintptr_t)desired,
                       success, failure);
}

#endif /* compiler */

#endif /* CBRING_ATOMICS_H */
