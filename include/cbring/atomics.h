/* Portable atomics for cbring's C core.
 *
 * The ring's fields are plain integers and pointers so that Cython and C++
 * can declare the struct without knowing about _Atomic; every access to a
 * shared field goes through one of these functions, each with an explicit
 * memory order.  GCC and Clang use the __atomic builtins (which
 * ThreadSanitizer understands); MSVC uses its interlocked intrinsics, whose
 * read-modify-writes are full barriers, and __ldar/__stlr on ARM64.
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

/* x86 and x64 are TSO: an aligned plain load is an acquire and an aligned
 * plain store a release once the compiler is fenced; seq_cst stores need
 * the implicit lock of xchg.  ARM64 gets real acquire/release instructions. */
#if defined(_M_ARM64)
#  define CBR_MSVC_LOAD64(p)     ((uint64_t)__ldar64((unsigned __int64 volatile *)(p)))
#  define CBR_MSVC_LOAD32(p)     ((uint32_t)__ldar32((unsigned __int32 volatile *)(p)))
#else
#  define CBR_MSVC_LOAD64(p)     (*(volatile const uint64_t *)(p))
#  define CBR_MSVC_LOAD32(p)     (*(volatile const uint32_t *)(p))
#endif

CBR_INLINE uint64_t cbr_load_u64(const uint64_t *p, cbr_order o)
{ uint64_t v = CBR_MSVC_LOAD64(p); (void)o; _ReadWriteBarrier(); return v; }
CBR_INLINE uint32_t cbr_load_u32(const uint32_t *p, cbr_order o)
{ uint32_t v = CBR_MSVC_LOAD32(p); (void)o; _ReadWriteBarrier(); return v; }
CBR_INLINE void *cbr_load_ptr(void *const *p, cbr_order o)
{ return (void *)(uintptr_t)cbr_load_u64((const uint64_t *)p, o); }

CBR_INLINE void cbr_store_u64(uint64_t *p, uint64_t v, cbr_order o)
{
    if (o == CBR_SEQ_CST) { _InterlockedExchange64((volatile __int64 *)p, (__int64)v); return; }
    _ReadWriteBarrier();
#if defined(_M_ARM64)
    __stlr64((unsigned __int64 volatile *)p, v);
#else
    *(volatile uint64_t *)p = v;
#endif
}
CBR_INLINE void cbr_store_u32(uint32_t *p, uint32_t v, cbr_order o)
{
    if (o == CBR_SEQ_CST) { _InterlockedExchange((volatile long *)p, (long)v); return; }
    _ReadWriteBarrier();
#if defined(_M_ARM64)
    __stlr32((unsigned __int32 volatile *)p, v);
#else
    *(volatile uint32_t *)p = v;
#endif
}
CBR_INLINE void cbr_store_ptr(void **p, void *v, cbr_order o)
{ cbr_store_u64((uint64_t *)p, (uint64_t)(uintptr_t)v, o); }

CBR_INLINE uint64_t cbr_fetch_add_u64(uint64_t *p, uint64_t v, cbr_order o)
{ (void)o; return (uint64_t)_InterlockedExchangeAdd64((volatile __int64 *)p, (__int64)v); }
CBR_INLINE uint32_t cbr_fetch_add_u32(uint32_t *p, uint32_t v, cbr_order o)
{ (void)o; return (uint32_t)_InterlockedExchangeAdd((volatile long *)p, (long)v); }
CBR_INLINE uint32_t cbr_fetch_sub_u32(uint32_t *p, uint32_t v, cbr_order o)
{ (void)o; return (uint32_t)_InterlockedExchangeAdd((volatile long *)p, -(long)v); }
CBR_INLINE uint64_t cbr_fetch_or_u64(uint64_t *p, uint64_t v, cbr_order o)
{ (void)o; return (uint64_t)_InterlockedOr64((volatile __int64 *)p, (__int64)v); }

CBR_INLINE uint32_t cbr_exchange_u32(uint32_t *p, uint32_t v, cbr_order o)
{ (void)o; return (uint32_t)_InterlockedExchange((volatile long *)p, (long)v); }
CBR_INLINE uint64_t cbr_exchange_u64(uint64_t *p, uint64_t v, cbr_order o)
{ (void)o; return (uint64_t)_InterlockedExchange64((volatile __int64 *)p, (__int64)v); }
CBR_INLINE void *cbr_exchange_ptr(void **p, void *v, cbr_order o)
{ (void)o; return _InterlockedExchangePointer((void *volatile *)p, v); }

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
CBR_INLINE int cbr_cas_ptr(void **p, void **expected, void *desired,
                           cbr_order success, cbr_order failure)
{
    void *old = _InterlockedCompareExchangePointer((void *volatile *)p, desired, *expected);
    (void)success; (void)failure;
    if (old == *expected) return 1;
    *expected = old;
    return 0;
}

CBR_INLINE void cbr_cpu_relax(void)
{
#if defined(_M_ARM64)
    __yield();
#else
    _mm_pause();
#endif
}

#endif /* compiler */

#endif /* CBRING_ATOMICS_H */
