"""What a script of this folder imports, read from its source (nothing is imported): the folder's modules it
pulls in, directly or through another (what a machine that runs only that script needs of scripts/), and the
imports from outside the folder and the standard library (what the environment that runs it must provide).

Every import statement counts, at the top of a file or inside a function: a function's import fails on the
machine where that function first runs, not where the script starts."""

import ast
import os
import sys


def import_statements(path):
    """(module, names) for each import in the file: names are what `from module import ...` takes, () for a
    plain `import module`. Relative imports are left out (this folder's scripts are top-level modules)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.module, tuple(alias.name for alias in node.names)))
    return found


def _walk(entry):
    """The folder's modules that `entry` pulls in, and every import statement of them."""
    folder = os.path.dirname(entry)
    needed, statements, todo = set(), [], [os.path.splitext(os.path.basename(entry))[0]]
    while todo:
        name = todo.pop()
        path = os.path.join(folder, f"{name}.py")
        if name in needed or (needed and not os.path.isfile(path)):
            continue  # seen already, or not this folder's (the standard library, a package)
        needed.add(name)
        for module, names in import_statements(path):
            statements.append((module, names))
            todo.append(module.split(".")[0])
    return folder, needed, statements


def imported_scripts(entry):
    """`entry` and every module of its folder that it imports, directly or through another: all that a machine
    which runs only `entry` needs of scripts/."""
    folder, needed, _ = _walk(entry)
    return sorted(os.path.join(folder, f"{name}.py") for name in needed)


def external_imports(entry):
    """{(module, names)} that `entry` and the folder's modules it pulls in import from neither the folder nor
    the standard library: the third-party imports that its environment must satisfy."""
    folder, _, statements = _walk(entry)
    ours = {name[:-3] for name in os.listdir(folder) if name.endswith(".py")}
    return {
        (module, names)
        for module, names in statements
        if module.split(".")[0] not in ours | set(sys.stdlib_module_names) | {"__future__"}
    }
