#!/usr/bin/env python3
"""Checks the house rules of the source layout that the compiler does not:

- no import cycle among sibling modules of a crate (`a` uses `b` and `b` uses `a`, directly
  or around a longer loop), found from `use crate::…`, `crate::…` paths and `super::…`;
- no source file over 600 lines, unit tests excepted (files named tests.rs and
  `#[cfg(test)]` modules at the end of a file do not count); the integration tests
  (`tests/` of each crate, their helpers in `tests/common/` included) count whole.

Exits 1 naming what breaks a rule. Run from the repository root (scripts/test.sh does).
"""

import os
import re
import sys

MAX_LINES = 600
CRATES = {
    "fairpos": "src",
    "fairpos-domain": "domain/src",
    "fairpos-sync": "sync/src",
    "fairpos-hardware": "hardware/src",
    "fairpos-projection": "projection/src",
    "fairpos-hq": "hq/src",
    "fairpos-postgres": "postgres/src",
}

# Each crate's integration tests: a file of its own per test binary, or a folder of modules.
INTEGRATION_TESTS = ["tests"] + [
    os.path.join(os.path.dirname(root), "tests") for root in CRATES.values() if root != "src"
]


def module_path(root, path):
    """`src/gui/till/sell.rs` -> ('gui', 'till', 'sell'); mod.rs and lib.rs name their folder."""
    rel = os.path.relpath(path, root)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def references(text, here):
    """Module paths a file refers to, resolved from `crate::` and `super::` paths."""
    text = re.sub(r"//[^\n]*", "", text)
    found = set()
    # `use crate::{a, b::c}` and `crate::a::b` anywhere.
    for m in re.finditer(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*)\{([^}]*)\}", text):
        prefix = [p for p in m.group(1).split("::") if p]
        for item in m.group(2).split(","):
            parts = [p for p in item.strip().split("::") if p and p != "self"]
            found.add(tuple(prefix + parts))
    for m in re.finditer(r"\bcrate::((?:[a-z_][a-z0-9_]*)(?:::[a-z_][a-z0-9_]*)*)", text):
        found.add(tuple(m.group(1).split("::")))
    for m in re.finditer(r"\b((?:super::)+)((?:[a-z_][a-z0-9_]*)(?:::[a-z_][a-z0-9_]*)*)?", text):
        ups = m.group(1).count("super::")
        base = list(here[: len(here) - ups]) if ups <= len(here) else []
        rest = m.group(2).split("::") if m.group(2) else []
        found.add(tuple(base + rest))
    return found


def sccs(nodes, edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def code_lines(text):
    """Lines of a file before a trailing `#[cfg(test)] mod tests`."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("#[cfg(test)]") and i + 1 < len(lines):
            if re.match(r"(pub(\(crate\))? )?mod \w+ \{", lines[i + 1]):
                return i
    return len(lines)


def main():
    problems = []
    for crate, root in CRATES.items():
        files = {}
        for dirpath, _, names in os.walk(root):
            for name in names:
                if name.endswith(".rs"):
                    path = os.path.join(dirpath, name)
                    files[path] = module_path(root, path)
        for path, here in sorted(files.items()):
            if os.path.basename(path) == "tests.rs" or "/bin/" in path:
                continue
            with open(path, encoding="utf-8") as f:
                n = code_lines(f.read())
            if n > MAX_LINES:
                problems.append(f"{path}: {n} lines (more than {MAX_LINES})")
        modules = set(files.values())
        # For every module, the graph of its children: edge a -> b when anything in a's
        # subtree names b's subtree.
        children = {}
        for m in modules:
            if m:
                children.setdefault(m[:-1], set()).add(m[-1])
        edges = {}
        for path, here in files.items():
            if not here or os.path.basename(path) == "tests.rs":
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            cut = code_lines(text)
            text = "\n".join(text.split("\n")[:cut])
            for ref in references(text, here):
                # The deepest common parent of `here` and `ref`, and the two children of it.
                k = 0
                while k < min(len(here), len(ref)) and here[k] == ref[k]:
                    k += 1
                if k >= len(here) or k >= len(ref):
                    continue  # a module and its own ancestor or descendant
                parent = here[:k]
                if ref[k] not in children.get(parent, set()):
                    continue  # an item of the parent, not a module
                edges.setdefault(parent, {}).setdefault(here[k], set()).add(ref[k])
        for parent, graph in sorted(edges.items()):
            for comp in sccs(set(graph) | {w for ws in graph.values() for w in ws}, graph):
                where = "::".join((crate.replace("-", "_"),) + parent)
                problems.append(f"{where}: import cycle among {', '.join(comp)}")
    for root in INTEGRATION_TESTS:
        for dirpath, _, names in os.walk(root):
            for name in sorted(names):
                if name.endswith(".rs"):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding="utf-8") as f:
                        n = len(f.read().rstrip("\n").split("\n"))
                    if n > MAX_LINES:
                        problems.append(f"{path}: {n} lines (more than {MAX_LINES})")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"layout: no import cycles, no source file over {MAX_LINES} lines")


if __name__ == "__main__":
    main()
