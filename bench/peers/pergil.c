/* The per-event GIL peers: a C extension shaped like pywin32's win32inet
 * status callback.  Every call takes the GIL (PyGILState_Ensure, which on a
 * thread without a Python thread state creates one and destroys it again),
 * reads lpvStatusInformation as pywin32 does, builds the benchmarks'
 * five-field (handle, context, status, result, error) tuple and hands it over:
 *
 *   append_callback()  list.append onto the list given to set_sink();
 *   put_callback()     queue.SimpleQueue.put of the queue given to
 *                      set_queue(), for a consumer thread's get().
 *
 * Both return the address of a C function with the WinINet status callback
 * signature, to pass to cbring._testing.Producers like a Ring's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(_WIN32)
#  define PERGIL_CALLBACK __stdcall
#else
#  define PERGIL_CALLBACK
#endif

typedef struct { uintptr_t dwResult; uint32_t dwError; } pergil_async_result;

static PyObject *sink_list;  /* strong references, set with the GIL */
static PyObject *sink_put;

/* The five fields every end-to-end row keeps: (handle, context, status,
 * result, error), result and error from the INTERNET_ASYNC_RESULT that
 * HANDLE_CREATED and REQUEST_COMPLETE carry, else None, as cbring's
 * Batch.tuples gives them. */
static PyObject *pergil_event(void *handle, uintptr_t context, uint32_t status, void *info,
                              uint32_t length)
{
    if ((status == 60 || status == 100) && info != NULL && length >= sizeof(pergil_async_result)) {
        pergil_async_result ar;
        memcpy(&ar, info, sizeof ar);
        return Py_BuildValue("(KKkKk)", (unsigned long long)(uintptr_t)handle,
                             (unsigned long long)context, (unsigned long)status,
                             (unsigned long long)ar.dwResult, (unsigned long)ar.dwError);
    }
    return Py_BuildValue("(KKkOO)", (unsigned long long)(uintptr_t)handle,
                         (unsigned long long)context, (unsigned long)status, Py_None, Py_None);
}

static void PERGIL_CALLBACK pergil_append(void *handle, uintptr_t context, uint32_t status,
                                          void *info, uint32_t length)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *ev = pergil_event(handle, context, status, info, length);
    if (ev == NULL || PyList_Append(sink_list, ev) < 0)
        PyErr_WriteUnraisable(NULL);
    Py_XDECREF(ev);
    PyGILState_Release(g);
}

static void PERGIL_CALLBACK pergil_put(void *handle, uintptr_t context, uint32_t status,
                                       void *info, uint32_t length)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *ev = pergil_event(handle, context, status, info, length), *r = NULL;
    if (ev != NULL)
        r = PyObject_CallOneArg(sink_put, ev);
    if (r == NULL)
        PyErr_WriteUnraisable(NULL);
    Py_XDECREF(r);
    Py_XDECREF(ev);
    PyGILState_Release(g);
}

static PyObject *set_sink(PyObject *self, PyObject *lst)
{
    (void)self;
    if (!PyList_Check(lst)) {
        PyErr_Format(PyExc_TypeError, "set_sink needs a list, got %s", Py_TYPE(lst)->tp_name);
        return NULL;
    }
    Py_INCREF(lst);
    Py_XSETREF(sink_list, lst);
    Py_RETURN_NONE;
}

static PyObject *set_queue(PyObject *self, PyObject *queue)
{
    PyObject *put = PyObject_GetAttrString(queue, "put");
    (void)self;
    if (put == NULL)
        return NULL;
    Py_XSETREF(sink_put, put);
    Py_RETURN_NONE;
}

static PyObject *append_callback(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromVoidPtr((void *)(uintptr_t)&pergil_append);
}

static PyObject *put_callback(PyObject *self, PyObject *unused)
{
    (void)self; (void)unused;
    return PyLong_FromVoidPtr((void *)(uintptr_t)&pergil_put);
}

static PyMethodDef pergil_methods[] = {
    {"set_sink", set_sink, METH_O, "The list that append_callback() appends to."},
    {"set_queue", set_queue, METH_O, "The queue whose put() put_callback() calls."},
    {"append_callback", append_callback, METH_NOARGS, "Address of the list.append callback."},
    {"put_callback", put_callback, METH_NOARGS, "Address of the SimpleQueue.put callback."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef pergil_module = {
    PyModuleDef_HEAD_INIT, "_cbring_bench_pergil",
    "Per-event GIL status callbacks shaped like pywin32's, for cbring's benchmarks.",
    -1, pergil_methods, NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit__cbring_bench_pergil(void)
{
    return PyModule_Create(&pergil_module);
}
