"""Recipe step 10 on a Cloud TPU: submit training to a TPU VM, follow it, bring its result back.

The `upload` rule has put the data and this project's scripts in the bucket. Here:
1. create a queued resource (spot if asked) for a TPU VM, or for every VM (worker) of a multi-host slice
   (tpu_slices), whose startup script fetches the scripts, installs their pinned dependencies and runs
   scripts/train_cli.py against the bucket: the same code the local rule runs, on every worker (JAX finds its
   peers by itself on a TPU slice; process 0 writes the checkpoints, the manifest and the final weights);
2. follow it in the rule's log: the resource's state, and the newest checkpoint step in the bucket;
3. a preempted slice, or one that lost a worker (its node REPAIRING or under maintenance), is deleted and
   requested again, and training resumes from the bucket's newest checkpoint;
4. finish when the run's manifest appears in the bucket: copy it and the final weights back, and delete the
   TPU resource unless `tpu.keep`.

The TPU API client is google-cloud-tpu (REST transport). TPU_EMULATOR_HOST=http://host:port sends it, without
credentials, to a stand-in of that API (tests/fixtures/tpu_standin.py), as STORAGE_EMULATOR_HOST does for Cloud Storage.
Bucket reads go through gsutil, as the upload does.
"""

import json
import logging
import os
import re
import shlex
import signal
import time

from bert_pretraining.training import checkpoints
from bert_pretraining.training import train_settings
from bert_pretraining.atomic import atomic_dir, atomic_path
from bert_pretraining.logs import PipelineError
from bert_pretraining.cloud import bucket, tpu_slices
from bert_pretraining.cloud.upload import LOGIN, gsutil, gsutil_ls

log = logging.getLogger("tpu")
# Queued-resource states in which the TPU is still coming or working; any other means it is lost: a spot VM
# that is preempted ends SUSPENDED, one that could not be provisioned FAILED.
LIVE = {"CREATING", "ACCEPTED", "PROVISIONING", "WAITING_FOR_RESOURCES", "ACTIVE"}
# not STOPPING: it may be saving a checkpoint. REPAIRING: a worker of the slice is being replaced; the others'
# training cannot go on without it.
NODE_LOST = {"PREEMPTED", "TERMINATED", "STOPPED", "REPAIRING"}
HEALTH_LOST = {"UNHEALTHY_MAINTENANCE"}
# In the startup script, the queued resource's id; follow() fills it in for each request.
NODE_ID = "@NODE_ID@"


class TpuError(PipelineError):
    pass


# ---- what the TPU VM runs ----------------------------------------------------------------------------------------


def train_command(
    *, python, settings, bert_config, vocab, train_files, eval_files, phase2_files, model_dir, run_url
):
    """scripts/train_cli.py's command line on the VM: every path in the bucket; `settings`: the values the local
    rule trains with (every setting of train_settings.names()); `phase2_files`: (train files, eval files) of
    phase 2, empty without one."""
    argv = [python, "code/scripts/train_cli.py", "--bert-config", bert_config, "--vocab", vocab]
    argv += ["--train-files", *train_files, "--eval-files", *eval_files, "--model-dir", model_dir]
    if phase2_files[0]:
        argv += ["--phase2-train-files", *phase2_files[0], "--phase2-eval-files", *phase2_files[1]]
    argv += ["--manifest", f"{run_url}/manifest.json", "--final-model-dir", f"{run_url}/model"]
    return argv + train_settings.to_argv(settings)


def startup_script(*, code_url, setup, command, error_dir):
    """The startup script of every VM of the slice. It runs at every boot; a failure copies its log to
    `error_dir`/worker-<n>.log, which the follower reads, but a preemption (exit 130: a checkpoint was saved) does
    not. A worker learns its number from the VM's metadata (TPU_WORKER_ID where that is set, as the stand-in
    does)."""
    steps = "\n".join(
        f"  {line}" for line in ["mkdir -p code", f"gsutil -m -q rsync -r {shlex.quote(code_url)} code", *setup]
    )
    metadata = "http://metadata.google.internal/computeMetadata/v1/instance/attributes/agent-worker-number"
    return f"""#!/bin/bash
# BERT pre-training from the bucket, written by the pipeline's train rule (scripts/bert_pretraining/cloud/tpu.py).
worker="${{TPU_WORKER_ID:-$(curl -sf --max-time 10 -H 'Metadata-Flavor: Google' {metadata} || echo 0)}}"
cd "$(mktemp -d -t bert-pretraining-XXXXXX)"
(
  set -euxo pipefail
{steps}
  exec {shlex.join(command)}
) 2>&1 | (trap '' TERM; tee startup.log)  # tee outlives a preemption's SIGTERM, so the last lines are kept
rc=${{PIPESTATUS[0]}}
if [ "$rc" -ne 0 ] && [ "$rc" -ne {train_settings.INTERRUPTED} ]; then
  gsutil -q cp startup.log {shlex.quote(error_dir)}/worker-"$worker".log
fi
exit "$rc"
"""


def queued_resource(tpu, node_id, startup):
    """A queued resource asking for one TPU node (one VM, or every VM of a slice) that runs `startup` at boot."""
    from google.cloud import tpu_v2

    node = tpu_v2.Node(
        accelerator_type=tpu["accelerator_type"],
        runtime_version=tpu["runtime_version"],
        metadata={"startup-script": startup},
        labels={"created-by": "bert-pretraining"},
    )
    resource = tpu_v2.QueuedResource(
        tpu=tpu_v2.QueuedResource.Tpu(
            node_spec=[tpu_v2.QueuedResource.Tpu.NodeSpec(parent=parent(tpu), node_id=node_id, node=node)]
        )
    )
    if tpu["spot"]:
        resource.spot = tpu_v2.QueuedResource.Spot()
    return resource


# ---- the TPU API -------------------------------------------------------------------------------------------------


def parent(tpu):
    return f"projects/{tpu['project']}/locations/{tpu['zone']}"


def tpu_client():
    """The TPU API client: Google's endpoint with Application Default Credentials, or TPU_EMULATOR_HOST's."""
    import google.auth.exceptions
    from google.cloud import tpu_v2

    emulator = os.environ.get("TPU_EMULATOR_HOST")
    if emulator:
        from google.auth.credentials import AnonymousCredentials

        return tpu_v2.TpuClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": emulator}
        )
    try:
        return tpu_v2.TpuClient(transport="rest")
    except google.auth.exceptions.DefaultCredentialsError as error:
        raise TpuError(f"no Google Cloud credentials for the TPU API ({error}): {LOGIN}") from None


def api_call(what, call, *args, **kwargs):
    """A TPU API call; the refusals users meet become one line that says what to change."""
    from google.api_core import exceptions

    try:
        return call(*args, **kwargs)
    except (exceptions.Unauthorized, exceptions.Forbidden) as error:  # REST's 401 and 403
        raise TpuError(
            f"the TPU API refused to {what} ({error.message}): {LOGIN}, and enable the TPU API "
            "(gcloud services enable tpu.googleapis.com)"
        ) from None
    except exceptions.GoogleAPICallError as error:
        raise TpuError(f"could not {what}: {error.message or error}") from None


def state_of(resource):
    from google.cloud import tpu_v2

    return tpu_v2.QueuedResourceState.State(resource.state.state).name


def attempts(client, tpu):
    """{attempt number: queued resource} of this run's resources, named <tpu.name>-<attempt>."""
    pattern = re.compile(rf"{re.escape(tpu['name'])}-(\d+)$")
    found = {}
    for resource in api_call("list queued resources", client.list_queued_resources, parent=parent(tpu)):
        match = pattern.fullmatch(resource.name.rsplit("/", 1)[-1])
        if match:
            found[int(match.group(1))] = resource
    return found


def delete(client, name):
    from google.cloud import tpu_v2

    log.info("deleting %s", name)
    # force: the VM goes with its queued resource
    request = tpu_v2.DeleteQueuedResourceRequest(name=name, force=True)
    api_call(f"delete {name}", client.delete_queued_resource, request=request)


# ---- the bucket ---------------------------------------------------------------------------------------------------


def newest_step(model_dir):
    """The step of the newest checkpoint in `model_dir` (gs://), 0 without one."""
    steps = [checkpoints.step_of(url) for url in gsutil_ls(f"{model_dir}/{checkpoints.GLOB}").split()]
    return max((step for step in steps if step is not None), default=0)


def fetch_result(run_url, manifest_path, model_path):
    """Copy the run's final weights and manifest from the bucket, each complete or not at all."""
    with atomic_dir(model_path) as tmp:
        gsutil("-m", "-q", "rsync", "-r", f"{run_url}/model", tmp)
    with atomic_path(manifest_path) as tmp:
        gsutil("-q", "cp", f"{run_url}/manifest.json", tmp)
    with open(manifest_path) as f:
        return json.load(f)


# ---- submit and follow -------------------------------------------------------------------------------------------


def earlier_run(client, tpu, run_url):
    """(highest attempt number so far, the queued resource to follow or None), after clearing what is lost."""
    found = attempts(client, tpu)
    live = {n: r for n, r in found.items() if state_of(r) in LIVE}
    for number in sorted(set(found) - set(live)):
        delete(client, found[number].name)  # a lost VM of an earlier run of this rule
    if not live:
        if gsutil_ls(f"{run_url}/**"):  # what an earlier run left there is not this run's result
            gsutil("-m", "-q", "rm", "-r", run_url)
        return max(found, default=0), None
    # The local job died while the TPU went on training: follow that VM rather than start another.
    number = max(live)
    for stray in set(live) - {number}:
        delete(client, live[stray].name)
    log.info("following %s, started earlier", live[number].name)
    return number, live[number].name


def request(client, tpu, node_id, startup):
    """Create the queued resource `node_id`; returns its name."""
    hosts, _ = slice_of(tpu)
    log.info(
        "requesting %s %s (%s%s) in %s",
        tpu["accelerator_type"],
        node_id,
        "spot" if tpu["spot"] else "on demand",
        f", {hosts} workers" if hosts > 1 else "",
        parent(tpu),
    )
    api_call(
        f"create the TPU {node_id}",
        client.create_queued_resource,
        parent=parent(tpu),
        queued_resource_id=node_id,
        queued_resource=queued_resource(tpu, node_id, startup.replace(NODE_ID, node_id)),
    )
    return f"{parent(tpu)}/queuedResources/{node_id}"


def slice_state(client, tpu, current):
    """(queued resource state, node state or None, why the slice is lost or None). A slice is lost when its
    resource is no longer live, its node is preempted, stopped or repairing (a worker VM being replaced), or under
    maintenance: then every worker's training must start again."""
    state = state_of(api_call(f"read {current}", client.get_queued_resource, name=current))
    if state not in LIVE:
        return state, None, state
    if state != "ACTIVE":
        return state, None, None
    node = api_call("read the TPU VM", client.get_node, name=f"{parent(tpu)}/nodes/{current.rsplit('/', 1)[-1]}")
    node_state, health = type(node).State(node.state).name, type(node).Health(node.health).name
    described = f": {node.health_description}" if node.health_description else ""
    if node_state in NODE_LOST:
        return state, node_state, f"{state} (VM {node_state}{described})"
    if health in HEALTH_LOST:
        return state, node_state, f"{state} (VM {health}{described})"
    return state, node_state, None


def raise_failure(run_url, node_id):
    """A worker whose setup or training failed copied its log under errors/<node id>/: one error naming it."""
    logs = gsutil_ls(f"{run_url}/errors/{node_id}/*.log").split()
    if logs:
        tail = gsutil("cat", logs[0]).stdout.strip().splitlines()[-15:]
        log.error("the TPU VM's log ends:\n%s", "\n".join(tail))
        raise TpuError(f"training failed on the TPU VM: {tail[-1] if tail else 'no log'} (its log: {logs[0]})")


def follow(client, tpu, *, startup, run_url, model_dir, total_steps, sleep=time.sleep):
    """Keep one TPU node (a VM, or every VM of a slice) training until the run's manifest is in the bucket;
    returns the queued resources used."""
    number, current = earlier_run(client, tpu, run_url)
    used, seen, lost = [current] if current else [], None, 0
    # Stopping the job (Ctrl-C, SIGTERM from Snakemake or a cluster's time limit) deletes the TPU on the way out
    # rather than leave it running unwatched; its checkpoints stay in the bucket for the next run.
    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        while True:
            if current is None:
                number += 1
                current = request(client, tpu, f"{tpu['name']}-{number}", startup)
                used.append(current)
            if gsutil_ls(f"{run_url}/manifest.json"):
                log.info("training finished: %s/manifest.json", run_url)
                return used
            # Before the workers' logs: a worker whose peer was lost fails too, and that is the loss, not an error.
            state, node_state, why = slice_state(client, tpu, current)
            if why:
                log.warning(
                    "%s is %s: requesting another TPU; training resumes from the newest checkpoint", current, why
                )
                delete(client, current)
                current, lost = None, lost + 1
                if lost > tpu["max_preemptions"]:
                    raise TpuError(
                        f"the TPU was lost {lost} times (tpu.max_preemptions {tpu['max_preemptions']}); "
                        f"the checkpoints are in {model_dir}: run again to resume"
                    )
                continue
            raise_failure(run_url, current.rsplit("/", 1)[-1])
            now = (state, node_state, newest_step(model_dir))
            if now != seen:
                log.info(
                    "%s %s%s, checkpoint step %d/%d",
                    current.rsplit("/", 1)[-1],
                    state,
                    f" (VM {node_state})" if node_state else "",
                    now[2],
                    total_steps,
                )
                seen = now
            sleep(tpu["poll_seconds"])
    finally:
        signal.signal(signal.SIGTERM, previous)
        if current and not tpu["keep"]:
            delete(client, current)


def slice_of(tpu):
    """(hosts, JAX devices a host) of tpu.accelerator_type; TpuError for a type that cannot be mapped."""
    try:
        return tpu_slices.slice_hosts(tpu["accelerator_type"])
    except ValueError as error:
        raise TpuError(str(error)) from None


def stopped(signum, frame):
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def train_on_tpu(
    *,
    tpu,
    bucket_url,
    model_dir,
    records,
    held_out,
    phase2_records,
    phase2_held_out,
    manifest_path,
    model_path,
    bert_config,
    vocab,
    **settings,
):
    """Train on a Cloud TPU from the bucket; write the run's manifest and final weights locally. `settings`: the
    training settings (train_settings.KEYS); `model_dir`: the checkpoint root, in the bucket."""
    # The VM trains in the model config's folder, named here as the VM would name it.
    _, _, model_dir = checkpoints.config_folder(
        checkpoints.per_config(model_dir), bert_config_path=bert_config, vocab_path=vocab
    )
    run_url = f"{bucket_url}/{bucket.TRAINED}"
    # The bucket mirrors each local folder of examples (upload); a record keeps its folder's and its own name.
    remote = lambda paths: [f"{bucket_url}/{os.path.basename(os.path.dirname(p))}/{os.path.basename(p)}" for p in paths]  # noqa: E731
    command = train_command(
        python=tpu["python"],
        settings=settings,
        bert_config=f"{bucket_url}/{bucket.MODEL_DIR}/bert_config.json",
        vocab=f"{bucket_url}/{bucket.MODEL_DIR}/vocab.txt",
        train_files=remote(records),
        eval_files=remote([held_out]),
        phase2_files=(remote(phase2_records), remote(phase2_held_out)),
        model_dir=model_dir,
        run_url=run_url,
    )
    startup = startup_script(
        code_url=f"{bucket_url}/{bucket.CODE}",
        setup=tpu["setup"],
        command=command,
        error_dir=f"{run_url}/errors/{NODE_ID}",
    )
    hosts, _ = slice_of(tpu)
    client = tpu_client()
    used = follow(
        client, tpu, startup=startup, run_url=run_url, model_dir=model_dir, total_steps=settings["num_train_steps"]
    )
    summary = fetch_result(run_url, manifest_path, model_path)
    summary["tpu"] = {"queued_resources": used, "kept": tpu["keep"], "hosts": hosts}
    with atomic_path(manifest_path) as tmp, open(tmp, "w") as f:
        json.dump(summary, f, indent=2)
    print(
        f"trained on {tpu['accelerator_type']} ({hosts} host(s)) to step {summary['final_step']} "
        f"({len(used)} queued resource(s))"
    )
    return summary
