/* An extension that forgets cbring_import(): cbring_ring() says so. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cbring/cbring.h>

static PyObject *ring_pointer(PyObject *self, PyObject *ring_obj)
{
    (void)self;
    if (cbring_ring(ring_obj) == NULL)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"ring_pointer", ring_pointer, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "forgetful", NULL, -1, methods};

PyMODINIT_FUNC PyInit_forgetful(void)
{
    return PyModule_Create(&module);
}
