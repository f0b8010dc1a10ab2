"""Write outputs under a temporary name and rename them when complete.

An interrupted or failed job then never leaves a file (or folder) that looks finished. A job killed outright
(kill -9, a lost machine) cannot remove its temporary file; the next attempt at the same output removes it.
"""

import contextlib
import os
import re
import shutil
import tempfile

# mkstemp and mkdtemp put 8 characters of this alphabet between the prefix and the suffix.
RANDOM_PART = "[a-z0-9_]{8}"


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temporary_name_pattern(path, suffix=""):
    """The regex of the temporary names that atomic_path(path, suffix) and atomic_dir(path) give `path`.

    Anchored to the whole name: `.shard_0002.<random>.tmp` is not `.shard_0002.tfrecord.<random>.tmp`.
    """
    name = os.path.basename(os.fspath(path).rstrip("/"))
    return re.compile(rf"\.{re.escape(name)}\.{RANDOM_PART}{re.escape(suffix)}\.tmp")


def remove_stale(path, suffix=""):
    """Remove what earlier, killed attempts at `path` left beside it: its temporary files and folders.

    Only this output's own pattern matches, so another output's temporary file in the same folder (a job
    running beside this one) is left alone. An output has one writer at a time: Snakemake runs one job per
    output and locks the working directory against a second Snakemake. Returns the names removed.
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(path).rstrip("/")))
    pattern = temporary_name_pattern(path, suffix)
    try:
        names = [name for name in os.listdir(folder) if pattern.fullmatch(name)]
    except FileNotFoundError:
        return []
    for name in names:
        stale = os.path.join(folder, name)
        if os.path.isdir(stale) and not os.path.islink(stale):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(stale)
    return sorted(names)


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale(path, suffix)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=suffix + ".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """Yield an empty temporary folder beside `path`; it replaces `path` only if the block succeeds."""
    path = os.fspath(path).rstrip("/")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    remove_stale(path)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if os.path.isdir(path):
            # Moved aside under a temporary name before it is deleted: a kill midway leaves no half-deleted
            # folder under the finished name, and the next attempt clears the temporary one.
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=parent)
            os.replace(path, old)
        os.replace(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
