"""Constructor arguments of the compiled classes, bound as Python binds them.

A cdef class takes its arguments in __cinit__ (its C state must exist before
any method can run), and Cython's own errors for them then name __cinit__.
Binding them against the signature the class documents, its
__text_signature__, gives the errors Python gives for a Python class, naming
the class, and keeps that signature the one source of the defaults."""

import typing

_signatures: typing.Dict[type, typing.Any] = {}


def bind(cls, args, kwargs):
    """The arguments of ``cls(*args, **kwargs)`` by name, defaults applied."""
    sig = _signatures.get(cls)
    if sig is None:
        import inspect  # on the first construction, not at `import cbring`
        sig = _signatures[cls] = inspect.signature(cls)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{cls.__name__}{sig}: {e}") from None
    bound.apply_defaults()
    return bound.arguments
