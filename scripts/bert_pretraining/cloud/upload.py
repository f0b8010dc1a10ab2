"""Recipe step 9: copy `bert_model/` and `pretraining_data/` to Cloud Storage with gsutil.

`gsutil -m rsync -r -d -c` per folder: checksums decide what is copied, so an unchanged shard is not uploaded
again, and objects that no longer exist locally (an earlier, larger run's shards) are deleted, so training
never globs them. The manifest, written only after the bucket's listing matches the local files, records
every object's name, size and MD5, and what this run copied.
"""

import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys

from bert_pretraining.atomic import atomic_path
from bert_pretraining.logs import PipelineError

LOGIN = (
    "log in with `gcloud auth application-default login` (or point GOOGLE_APPLICATION_CREDENTIALS at a "
    "service-account key, or BOTO_CONFIG at a boto file with credentials)"
)

# \b: a port such as 127.0.0.1:40137 in a connection error is no refusal
REFUSED = r"\b40[13]\b|AccessDenied|credentials|Anonymous caller|invalid_grant|RefreshError"
PROGRESS = re.compile(r"[/\\|-] \[|Copying |Removing |Building synchronization|Starting synchronization")


class UploadError(PipelineError):
    pass


def gsutil_command():
    """gsutil from this environment (a venv's bin/ is not on PATH when Snakemake is run by its full path)."""
    beside = os.path.join(os.path.dirname(sys.executable), "gsutil")
    found = beside if os.path.exists(beside) else shutil.which("gsutil")
    if not found:
        raise UploadError("gsutil is not installed: pip install gsutil (it is in requirements.txt)")
    return found


def run_gsutil(args):
    """gsutil in a process group of its own, all of which goes when it ends or we stop waiting (an exception, a
    signal): gsutil forks helper processes that outlive a killed gsutil, even `gsutil ls`."""
    process = subprocess.Popen(
        [gsutil_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def gsutil(*args):
    """Run gsutil; turn the failures users meet into one line that says what to do."""
    result = run_gsutil(args)
    logging.info("gsutil %s\n%s", " ".join(args), result.stderr.strip())
    if result.returncode != 0:
        err = result.stderr
        if re.search(r"BucketNotFound|bucket does not exist", err):
            bucket = re.search(r"gs://[^/\s]+", " ".join(args))
            raise UploadError(f"{bucket.group(0) if bucket else 'the bucket'} does not exist: create it "
                              f"(gsutil mb gs://NAME) or correct `bucket` in the config")
        if re.search(REFUSED, err):
            raise UploadError(f"Cloud Storage refused the request ({_refusal(err)}): {LOGIN}")
        command = next((arg for arg in args if not arg.startswith("-")), "")  # `-m` is an option, not the command
        raise UploadError(f"gsutil {command} failed: {_cause(err)}; run again to retry")
    return result


def _cause(text):
    """gsutil's last word on a failure; after its closing count ("9 files/objects could not be copied"), the
    error before it as well, which says why."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not PROGRESS.match(line.strip())]
    if len(lines) > 1 and "could not be" in lines[-1]:
        return f"{lines[-1].rstrip('.')}: {lines[-2]}"
    return lines[-1] if lines else "no message"


def _refusal(text):
    """The line that says what was refused; gsutil answers an anonymous caller's 403 with a wrapped paragraph."""
    if "with no configured" in text:
        return "no credentials are configured"
    return next((line.strip() for line in text.splitlines() if re.search(REFUSED, line)), _cause(text))


def md5_base64(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


def local_files(folder):
    """{relative name: path} of the files under `folder`, Snakemake's hidden marks left out."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            if not name.startswith("."):
                path = os.path.join(root, name)
                files[os.path.relpath(path, folder)] = path
    return files


def gsutil_ls(pattern, *flags):
    """`gsutil ls`'s output for a URL or wildcard; "" when nothing matches."""
    result = run_gsutil(["ls", *flags, pattern])
    if result.returncode != 0:
        if "matched no objects" in result.stderr:
            return ""
        raise UploadError(f"listing {pattern} failed: {_cause(result.stderr)}")
    return result.stdout


def remote_objects(url):
    """{relative name: (size, md5)} of the objects under `url`, from `gsutil ls -L`."""
    objects, name = {}, None
    for line in gsutil_ls(url.rstrip("/") + "/**", "-L").splitlines():
        if line.startswith("gs://"):
            name = line.rstrip(":")[len(url.rstrip("/")) + 1:]
            objects[name] = [None, None]
        elif name and "Content-Length:" in line:
            objects[name][0] = int(line.split(":", 1)[1])
        elif name and "Hash (md5):" in line:
            objects[name][1] = line.split(":", 1)[1].strip()
    return {k: tuple(v) for k, v in objects.items()}


def upload(folders, manifest_path, keep=None):
    """Mirror each local folder to its gs:// URL (`folders`: {local: url}); write the manifest.

    `keep`: a regex of names (relative to a folder) that the mirror neither copies nor deletes: what training
    writes into the bucket's bert_model/ (checkpoints, the run's result) is not the upload's to remove.
    """
    manifest = {"objects": [], "copied": []}
    # hidden names (Snakemake's .snakemake_timestamp in folder outputs) stay out, as local_files leaves them out
    skip = "|".join(filter(None, [r"(.*/)?\.[^/]*$", keep]))
    for local, url in folders.items():
        result = gsutil("-m", "rsync", "-r", "-d", "-c", "-x", skip, local, url)
        manifest["copied"] += sorted(
            os.path.relpath(m, ".") for m in re.findall(r"Copying file://(\S+)", result.stderr)
        )
        remote = {k: v for k, v in remote_objects(url).items() if not re.match(skip, k)}
        files = local_files(local)
        for name, path in sorted(files.items()):
            size, md5 = os.path.getsize(path), md5_base64(path)
            if remote.get(name) != (size, md5):
                raise UploadError(f"{url}/{name} does not match {path} after the upload; run again to retry")
            manifest["objects"].append({"url": f"{url.rstrip('/')}/{name}", "size": size, "md5": md5})
        stale = sorted(set(remote) - set(files))
        if stale:
            raise UploadError(f"{url} still holds objects that no longer exist locally: {', '.join(stale[:5])}")
    with atomic_path(manifest_path) as tmp, open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
    logging.info("%d objects in the bucket, %d copied by this run", len(manifest["objects"]), len(manifest["copied"]))
    return manifest
