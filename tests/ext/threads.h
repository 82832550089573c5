/* A minimal thread shim for the test extensions, as a third party would write it. */
#ifndef TEST_THREADS_H
#define TEST_THREADS_H
#if defined(_WIN32)
#  include <stdlib.h>
#  include <windows.h>
#  include <process.h>
typedef HANDLE test_thread;
typedef struct test_thread_start_ { void *(*fn)(void *); void *arg; } test_thread_start_;
static unsigned __stdcall test_thread_main_(void *p)
{
    test_thread_start_ s = *(test_thread_start_ *)p;
    free(p);
    s.fn(s.arg);
    return 0;
}
static int test_thread_start(test_thread *t, void *(*fn)(void *), void *arg)
{
    test_thread_start_ *s = (test_thread_start_ *)malloc(sizeof *s);
    if (s == NULL) return -1;
    s->fn = fn;
    s->arg = arg;
    *t = (HANDLE)_beginthreadex(NULL, 0, test_thread_main_, s, 0, NULL);
    return *t ? 0 : -1;
}
static void test_thread_join(test_thread t) { WaitForSingleObject(t, INFINITE); CloseHandle(t); }
#else
#  include <pthread.h>
typedef pthread_t test_thread;
static int test_thread_start(test_thread *t, void *(*fn)(void *), void *arg)
{ return pthread_create(t, NULL, fn, arg); }
static void test_thread_join(test_thread t) { pthread_join(t, NULL); }
#endif
#endif
