"""Threads, by the C API's rule (docs/internals.md, Threads): contexts are
independent and run at the same time; what is made on one context is used
by one thread at a time (the package's per-context lock sees to that)."""
import threading

import numpy as np

import clformer
from conftest import reference, tiny

TEXTS = reference("tiny-models.json")["texts"]


def run_threads(fns):
    results, errors = [None] * len(fns), []

    def call(i):
        try:
            results[i] = fns[i]()
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_two_contexts_in_two_threads_equal_serial():
    names = ["distilbert-mean", "roberta-mean"]
    serial = []
    for name in names:
        with clformer.SentenceEncoder(tiny(name)) as m:
            serial.append(m.encode(TEXTS))
    models = [clformer.SentenceEncoder(tiny(n), clformer.Context()) for n in names]
    try:
        # each thread encodes several times, so that the calls overlap
        got = run_threads([lambda m=m: [m.encode(TEXTS, batch_size=32) for _ in range(6)]
                           for m in models])
    finally:
        for m in models:
            m.context.close()
            m.close()
    for runs, want in zip(got, serial):
        for r in runs:
            np.testing.assert_array_equal(r, want)


def test_one_model_shared_by_threads_is_serialised(ctx):
    with clformer.SentenceEncoder(tiny("distilbert-mean"), ctx) as m:
        want = m.encode(TEXTS)
        got = run_threads([lambda: [m.encode(TEXTS) for _ in range(4)]] * 3)
    for runs in got:
        for r in runs:
            np.testing.assert_array_equal(r, want)


def test_two_encoders_in_two_threads():
    x = np.random.default_rng(5).standard_normal((2, 8, 32)).astype(np.float32)
    with clformer.Encoder(32, 4, 64, 2, seed=3) as e:
        want = e.forward(x)
    encs = [clformer.Encoder(32, 4, 64, 2, seed=3) for _ in range(2)]
    try:
        got = run_threads([lambda e=e: [e.forward(x) for _ in range(10)] for e in encs])
    finally:
        for e in encs:
            e.close()
    for runs in got:
        for r in runs:
            np.testing.assert_array_equal(r, want)


def test_library_calls_release_the_gil():
    """ctypes releases the GIL around a call of a CDLL's function, not of a
    PyDLL's (FUNCFLAG_PYTHONAPI): every function the package calls is the
    former, so device work in one thread lets the others run."""
    import ctypes

    from clformer import _lib
    lib = _lib.lib()
    assert isinstance(lib, ctypes.CDLL) and not isinstance(lib, ctypes.PyDLL)
    for name in _lib._PROTOTYPES:
        assert not getattr(lib, name)._flags_ & ctypes._FUNCFLAG_PYTHONAPI, name
