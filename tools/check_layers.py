#!/usr/bin/env python3
"""Checks that dependencies run one way: runtime -> linalg -> graph -> ops ->
model -> reference -> tools (the meson test `layers`). reference/ is the
double-precision encoder on the public API that the command (run --check,
analyze) and the tests use.

Usage: check_layers.py SOURCE_ROOT ARCHIVE      check the tree and libclformer.a
       check_layers.py --self-test SOURCE_ROOT ARCHIVE

Includes: every `#include "..."` of a .c or .h file in lib/, reference/ and
tools/ must resolve (next to the file, then in include/, then in
lib/runtime/: the library's include path, then in reference/) to a file of its own layer or a lower one; the
public headers in include/ may be included from anywhere.

Calls: for every object of the static library (named lib_<layer>_<file>.c.o
by meson), each undefined clf_* symbol must be defined by an object of the
same layer or a lower one (read with `nm`). The generated object of the
embedded kernel sources belongs to runtime.

lib/linalg sits right above runtime: its factorisations (LAPACK on the
host) call only runtime's error reporting, and ops (posenc, tt) and model
(weight preparation) call them.

--self-test runs the check on the real tree and archive, then on a copy of
the tree with one upward #include added and on the archive's listing with
one upward call added, and fails unless the first passes and both others
are caught.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

LAYERS = ['runtime', 'linalg', 'graph', 'ops', 'model', 'reference', 'tools']
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def layer_of_path(root, path):
    """Layer index of a file, None for the public headers (include/)."""
    rel = os.path.relpath(path, root).split(os.sep)
    if rel[0] == 'include':
        return None
    if rel[0] in ('tools', 'reference'):
        return LAYERS.index(rel[0])
    if rel[0] == 'lib' and len(rel) > 2 and rel[1] in LAYERS:
        return LAYERS.index(rel[1])
    raise ValueError('%s is in no layer' % path)


def sources(root):
    for top in ('lib', 'reference', 'tools'):
        for d, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if n.endswith(('.c', '.h')):
                    yield os.path.join(d, n)


def check_includes(root):
    """Problems with the #include lines under root, as messages."""
    problems = []
    search = [os.path.join(root, 'include'), os.path.join(root, 'lib', 'runtime'),
              os.path.join(root, 'reference')]
    for path in sources(root):
        own = layer_of_path(root, path)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for m in INCLUDE_RE.finditer(text):
            name = m.group(1)
            line = text.count('\n', 0, m.start()) + 1
            where = '%s:%d' % (os.path.relpath(path, root), line)
            found = None
            for d in [os.path.dirname(path)] + search:
                cand = os.path.normpath(os.path.join(d, name))
                if os.path.isfile(cand):
                    found = cand
                    break
            if not found:
                problems.append('%s: cannot resolve #include "%s"' % (where, name))
                continue
            target = layer_of_path(root, found)
            if target is not None and target > own:
                problems.append('%s: %s includes "%s" of %s (up a layer)' %
                                (where, LAYERS[own], name, LAYERS[target]))
    return problems


def object_layer(obj):
    if 'cl_sources' in obj:
        return LAYERS.index('runtime')
    m = re.match(r'lib_([a-z]+)_', obj)
    if not m or m.group(1) not in LAYERS:
        raise ValueError('object %s is in no layer' % obj)
    return LAYERS.index(m.group(1))


def parse_nm(text):
    """{object: (defined clf_* symbols, undefined clf_* symbols)} from `nm`
    output of an archive."""
    objs = {}
    cur = None
    for line in text.splitlines():
        if line.endswith(':') and not line.startswith(' '):
            cur = line[:-1]
            objs[cur] = (set(), set())
            continue
        parts = line.split()
        if cur is None or len(parts) < 2 or not parts[-1].startswith('clf_'):
            continue
        kind, sym = parts[-2], parts[-1]
        objs[cur][1 if kind == 'U' else 0].add(sym)
    return objs


def check_calls(nm_text):
    """Problems with the calls between the archive's objects, as messages."""
    objs = parse_nm(nm_text)
    definer = {}
    for obj, (defined, _) in objs.items():
        for sym in defined:
            definer[sym] = obj
    problems = []
    for obj, (_, undefined) in sorted(objs.items()):
        own = object_layer(obj)
        for sym in sorted(undefined):
            if sym not in definer:
                continue  # not defined in the library (none is, today)
            target = object_layer(definer[sym])
            if target > own:
                problems.append('%s (%s) calls %s of %s (%s): up a layer' %
                                (obj, LAYERS[own], sym, definer[sym], LAYERS[target]))
    return problems


def run_nm(archive):
    return subprocess.run(['nm', archive], check=True, capture_output=True,
                          text=True).stdout


def check(root, nm_text):
    problems = check_includes(root) + check_calls(nm_text)
    for p in problems:
        print(p)
    return not problems


def self_test(root, archive):
    nm_text = run_nm(archive)
    ok = True
    print('self-test: the tree as it is')
    if not check(root, nm_text):
        print('self-test: FAILED: the unchanged tree does not pass')
        ok = False
    with tempfile.TemporaryDirectory() as tmp:
        for top in ('include', 'lib', 'tools'):
            shutil.copytree(os.path.join(root, top), os.path.join(tmp, top))
        with open(os.path.join(tmp, 'lib', 'runtime', 'tensor.c'), 'a') as f:
            f.write('#include "../graph/graph.h"\n')
        print('self-test: lib/runtime/tensor.c including ../graph/graph.h')
        if check(tmp, nm_text):
            print('self-test: FAILED: the upward include was not caught')
            ok = False
    # one upward call: the runtime's tensor object calling into the graph
    bad = nm_text.replace('lib_runtime_tensor.c.o:\n',
                          'lib_runtime_tensor.c.o:\n                 U clf_graph_add_node\n')
    print('self-test: lib_runtime_tensor.c.o calling clf_graph_add_node')
    if bad == nm_text or not check_calls(bad):
        print('self-test: FAILED: the upward call was not caught')
        ok = False
    else:
        print('\n'.join(check_calls(bad)))
    print('self-test: %s' % ('passed' if ok else 'FAILED'))
    return ok


def main(argv):
    if len(argv) == 4 and argv[1] == '--self-test':
        return 0 if self_test(argv[2], argv[3]) else 1
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    if not check(argv[1], run_nm(argv[2])):
        print('layers: dependencies go up a layer (see tools/check_layers.py)')
        return 1
    print('layers: every include and call goes down or stays in its layer')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
