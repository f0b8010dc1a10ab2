"""A real one-node Slurm cluster on this machine, for tests: munged, slurmctld and slurmd, no systemd.

Needs Debian's slurmctld, slurmd, slurm-client and munge packages and root (the daemons and
/etc/slurm/slurm.conf, the one place every Slurm command and job step reads its config from).
`.ci/run` installs the packages; elsewhere the test is skipped with the reason.
"""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

CONF = "/etc/slurm/slurm.conf"
MARK = "# written by the BERT pipeline's tests; removed when they end"
DAEMONS = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol"]


def unavailable():
    """Why no cluster can be started here, or None."""
    missing = [d for d in DAEMONS if not shutil.which(d, path=os.environ.get("PATH", "") + ":/usr/sbin")]
    if missing:
        return f"Slurm/munge not installed ({', '.join(missing)} missing): apt-get install slurmctld slurmd slurm-client munge"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd needs root"
    if os.path.exists(CONF) and MARK not in open(CONF).read():
        return f"{CONF} exists and is not ours: not touching a real Slurm installation"
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sbin(name):
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin")


def _start_munged(folder):
    """Start munged as the munge user unless one already answers; returns the process to stop, or None."""
    if subprocess.run(["munge", "-n"], capture_output=True).returncode == 0:
        return None
    munge = pwd.getpwnam("munge")
    os.makedirs("/run/munge", exist_ok=True)
    os.chown("/run/munge", munge.pw_uid, munge.pw_gid)
    if not os.path.exists("/etc/munge/munge.key"):
        subprocess.run(["mungekey", "--create"], user=munge.pw_uid, group=munge.pw_gid, check=True)
    proc = subprocess.Popen([_sbin("munged"), "--foreground"], user=munge.pw_uid, group=munge.pw_gid,
                            stdout=open(os.path.join(folder, "munged.log"), "w"), stderr=subprocess.STDOUT)
    _wait(lambda: subprocess.run(["munge", "-n"], capture_output=True).returncode == 0, "munged", folder)
    return proc


def _wait(ready, what, folder, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    logs = "\n".join(open(os.path.join(folder, f)).read()[-2000:] for f in os.listdir(folder) if f.endswith(".log"))
    raise RuntimeError(f"{what} did not come up within {timeout} s\n{logs}")


def _write_conf(folder, node, cpus, start_at_once):
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 - 1024
    conf = f"""{MARK}
ClusterName=bertpipe
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
{"SchedulerParameters=batch_sched_delay=0,sched_min_interval=0" if start_at_once else ""}
{"SlurmdParameters=config_overrides" if cpus > os.cpu_count() else ""}
ReturnToService=2
MinJobAge=600
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=main Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""
    os.makedirs(os.path.dirname(CONF), exist_ok=True)
    with open(CONF, "w") as f:
        f.write(conf)


@contextlib.contextmanager
def local_slurm(folder, cpus=None, start_at_once=False):
    """Run a one-node cluster for the duration of the block; every daemon it started is stopped after.

    `cpus`: the node's size as Slurm sees it (default: this machine's); more than the machine has lets jobs that
    could run side by side do so instead of queueing behind a 2-CPU job. `start_at_once`: schedule a job as soon
    as it is submitted or a node frees up, not up to 3 s later (Slurm's default batch_sched_delay). Both for
    tests, where each step of a run costs a poll of the Slurm plugin, which backs off by 10 s a poll; the default
    cluster is the one the benchmark measures."""
    folder = str(folder)
    for sub in ("state", "spool"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    node = socket.gethostname().split(".")[0]
    started = []
    try:
        munged = _start_munged(folder)
        if munged:
            started.append(munged)
        _write_conf(folder, node, cpus or os.cpu_count(), start_at_once)
        # -D: stay in the foreground, so the test owns the process; -i: ignore state from an earlier run
        started.append(subprocess.Popen([_sbin("slurmctld"), "-D", "-i"], stdout=subprocess.DEVNULL,
                                        stderr=open(os.path.join(folder, "slurmctld.err"), "w")))
        started.append(subprocess.Popen([_sbin("slurmd"), "-D", "-N", node], stdout=subprocess.DEVNULL,
                                        stderr=open(os.path.join(folder, "slurmd.err"), "w")))

        def idle():
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout
            return out.strip() == "idle"

        _wait(idle, "the Slurm node", folder)
        yield node
    finally:
        subprocess.run(["scancel", "--full", "--user", "root"], capture_output=True)
        for proc in reversed(started):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if os.path.exists(CONF) and MARK in open(CONF).read():
            os.remove(CONF)


def slurm_job_ids():
    """Ids of the jobs the controller still remembers (completed ones too, for MinJobAge seconds)."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True).stdout
    return {field.split("=")[1] for field in out.split() if field.startswith("JobId=")}
