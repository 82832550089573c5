/* What the C tests need beyond C99 and include/cbring, on POSIX and Windows:
 * threads, a thread-local variable and cache-line-aligned allocation.
 *
 * Windows' C runtimes (MSVC's UCRT, mingw-w64's msvcrt) have neither C11
 * aligned_alloc nor pthreads, and cl.exe's C mode knows _Thread_local only
 * with /std:c11; the tests use these names so that one source builds with
 * gcc and clang on POSIX, mingw-w64, and compilers in MSVC mode.
 */
#ifndef CBRING_TESTS_PORTABLE_H
#define CBRING_TESTS_PORTABLE_H

#include <stdlib.h>

#if defined(_MSC_VER) && !defined(__clang__)
#  define TEST_THREAD_LOCAL __declspec(thread)
#else
#  define TEST_THREAD_LOCAL _Thread_local
#endif

#if defined(_WIN32)
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  include <malloc.h>
#  include <process.h>
#  include <windows.h>

/* free() must not be given what _aligned_malloc returned: test_aligned_free. */
static void *test_aligned_alloc(size_t alignment, size_t size)
{
    return _aligned_malloc(size, alignment);
}
static void test_aligned_free(void *p)
{
    _aligned_free(p);
}

typedef struct test_thread {
    HANDLE handle;
    void *(*fn)(void *);
    void *arg;
} test_thread;

/* _beginthreadex wants unsigned __stdcall (void *): calling fn through a
 * cast to that type would be undefined, so a trampoline calls it. */
static unsigned __stdcall test_thread_main_(void *t)
{
    test_thread *self = (test_thread *)t;
    self->fn(self->arg);
    return 0;
}

/* t must stay where it is until test_thread_join(t) returns. */
static int test_thread_start(test_thread *t, void *(*fn)(void *), void *arg)
{
    t->fn = fn;
    t->arg = arg;
    t->handle = (HANDLE)_beginthreadex(NULL, 0, test_thread_main_, t, 0, NULL);
    return t->handle ? 0 : -1;
}
static void test_thread_join(test_thread *t)
{
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
}

#else
#  include <pthread.h>

static void *test_aligned_alloc(size_t alignment, size_t size)
{
    /* C11 wants size to be a multiple of alignment */
    return aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}
static void test_aligned_free(void *p)
{
    free(p);
}

typedef struct test_thread {
    pthread_t handle;
} test_thread;

static int test_thread_start(test_thread *t, void *(*fn)(void *), void *arg)
{
    return pthread_create(&t->handle, NULL, fn, arg);
}
static void test_thread_join(test_thread *t)
{
    pthread_join(t->handle, NULL);
}
#endif

#endif /* CBRING_TESTS_PORTABLE_H */
