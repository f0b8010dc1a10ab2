"""What a rule's script imports, read from the source (nothing is imported): the modules of this package it pulls
in, directly or through another (what a machine that runs only that script needs of scripts/), and the imports
from outside the package and the standard library (what the environment that runs it must provide).

Every import statement counts, at the top of a file or inside a function: a function's import fails on the
machine where that function first runs, not where the script starts."""

import ast
import os
import sys

PACKAGE = __name__.split(".")[0]
SCRIPTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def import_statements(path):
    """(module, names) for each import in the file: names are what `from module import ...` takes, () for a
    plain `import module`. Relative imports are left out (the package imports itself by absolute names)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.module, tuple(alias.name for alias in node.names)))
    return found


def module_file(module):
    """The file of a module of the package (a package's __init__.py), or None."""
    base = os.path.join(SCRIPTS, *module.split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def package_modules(module, names):
    """The package's modules that `from module import names` (or `import module`) loads: the module, the
    packages above it, and each name that is a module of its own."""
    parts = module.split(".")
    found = [".".join(parts[: i + 1]) for i in range(len(parts))]
    found += [f"{module}.{name}" for name in names if module_file(f"{module}.{name}")]
    return [name for name in found if module_file(name)]


def _walk(entry):
    """The package's modules that the script `entry` pulls in, and every import statement of them and of it."""
    needed, statements, todo = set(), import_statements(entry), []
    todo += [m for module, names in statements if module.split(".")[0] == PACKAGE for m in package_modules(module, names)]
    while todo:
        module = todo.pop()
        if module in needed:
            continue
        needed.add(module)
        for imported, names in import_statements(module_file(module)):
            statements.append((imported, names))
            if imported.split(".")[0] == PACKAGE:
                todo += package_modules(imported, names)
    return needed, statements


def imported_modules(entry):
    """The dotted names of the package's modules that `entry` pulls in."""
    return sorted(_walk(entry)[0])


def imported_scripts(entry):
    """`entry` and the files of every package module it pulls in: all that a machine which runs only `entry`
    needs of scripts/."""
    return [entry] + sorted(module_file(module) for module in _walk(entry)[0])


def external_imports(entry):
    """{(module, names)} that `entry` and the package modules it pulls in import from neither the package nor
    the standard library: the third-party imports that its environment must satisfy."""
    return {
        (module, names)
        for module, names in _walk(entry)[1]
        if module.split(".")[0] not in {PACKAGE, "__future__"} | set(sys.stdlib_module_names)
    }
