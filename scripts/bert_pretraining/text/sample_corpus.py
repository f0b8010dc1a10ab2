"""The offline default corpus: English prose from the docstrings of Python's standard library.

The source files are parsed with `ast` and never imported, so nothing runs and no third-party text is copied
into the repository. Output: one sentence per line, a blank line between modules (document boundaries).
"""

import ast
import os
import re
import sysconfig
import warnings

from nltk.tokenize.punkt import PunktSentenceTokenizer

# Folders of the stdlib that hold tests, vendored packages or sample data rather than documented modules.
SKIPPED_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "lib2to3", "ensurepip"}

_ROLE = re.compile(r":[\w:.-]+:`~?!?([^`<]*?)(?:\s*<[^>]*>)?`")  # :func:`name` -> name
_LITERAL = re.compile(r"`+([^`]*)`+")
_INLINE_MARKUP = re.compile(r"(\*\*|\*|\|)(?=\S)(.+?)(?<=\S)\1")
_FIELD = re.compile(r"^\s*:[\w ]+:")  # :param x: / :returns:
_SECTION_UNDERLINE = re.compile(r"^\s*([-=~^\"'`#*+])\1{2,}\s*$")
_HAS_CODE = re.compile(r"[{}=<>@$\\|]|->|::|\*\*|\.py\b")
_WORDS = re.compile(r"[A-Za-z]+")


def stdlib_sources(stdlib=None):
    """Sorted paths of the stdlib's .py files, so the corpus is the same on every run."""
    stdlib = stdlib or sysconfig.get_paths()["stdlib"]
    paths = []
    for folder, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        paths.extend(os.path.join(folder, f) for f in sorted(files) if f.endswith(".py"))
    return paths


def docstrings(source):
    """Every module, class and function docstring of a source text, in file order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # old escape sequences in some stdlib files
        tree = ast.parse(source)
    nodes = [tree] + [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    nodes.sort(key=lambda node: getattr(node, "lineno", 0))
    return [doc for doc in (ast.get_docstring(node) for node in nodes) if doc]


def prose_paragraphs(doc):
    """Paragraphs of running text: doctests, literal blocks, field lists and headings removed."""
    paragraphs, current = [], []
    in_literal, literal_indent, skip_doctest = False, 0, False
    for line in doc.splitlines() + [""]:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if in_literal:  # a `::` block lasts while lines stay indented deeper than the paragraph
            if not stripped or indent > literal_indent:
                continue
            in_literal = False
        if skip_doctest:  # a doctest's expected output lasts until the next blank line
            if stripped:
                continue
            skip_doctest = False
        if stripped.startswith((">>>", "...")):
            skip_doctest = True
            continue
        if not stripped or _SECTION_UNDERLINE.match(line) or _FIELD.match(line) or stripped.startswith(".."):
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        if indent > 4 and not current:  # an indented example or option table, not prose
            continue
        if stripped.endswith("::"):
            in_literal, literal_indent = True, indent
            stripped = stripped[:-2].rstrip() + ("." if not stripped[:-2].rstrip().endswith(":") else "")
        current.append(stripped)
    return paragraphs


def clean_markup(text):
    text = _ROLE.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _INLINE_MARKUP.sub(r"\2", text)
    return text.replace("`", "")  # old-style `quotes'



def is_prose(sentence):
    """A sentence worth keeping: starts like English, has words, and no code left in it."""
    words = _WORDS.findall(sentence)
    return (
        len(words) >= 3
        and sentence[0].isupper()
        and sentence[-1] in ".!?"
        and not _HAS_CODE.search(sentence)
        and sum(map(len, words)) >= 0.6 * len(sentence.replace(" ", ""))
    )


def module_sentences(source, splitter):
    sentences = []
    for doc in docstrings(source):
        for paragraph in prose_paragraphs(doc):
            text = clean_markup(paragraph)
            if text[-1].isalnum():  # summary lines often end without a full stop
                text += "."
            sentences.extend(s for s in splitter.tokenize(text) if is_prose(s))
    return sentences


def write_sample_corpus(path, stdlib=None):
    """Write the corpus to `path`; returns (documents, sentences)."""
    splitter = PunktSentenceTokenizer()  # untrained Punkt: needs no downloaded model
    n_docs = n_sentences = 0
    with open(path, "w", encoding="utf-8") as out:
        for source_path in stdlib_sources(stdlib):
            try:
                with open(source_path, encoding="utf-8") as f:
                    sentences = module_sentences(f.read(), splitter)
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue  # a few stdlib files are deliberately invalid (test data, templates)
            if not sentences:
                continue
            if n_docs:
                out.write("\n")
            out.write("\n".join(sentences) + "\n")
            n_docs += 1
            n_sentences += len(sentences)
    return n_docs, n_sentences
