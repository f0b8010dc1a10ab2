"""What a Cloud TPU accelerator type is made of: how many TPU VMs (workers, hosts) and how many JAX devices each.

The number in a type's name counts TensorCores for v2, v3, v4 and v5p, chips for v5e (v5litepod) and v6e
(Cloud TPU docs, "TPU types and topologies" and each version's page: cloud.google.com/tpu/docs/v2 ... /v6e):
- v2, v3: 4 chips of 2 TensorCores a host, JAX sees each core: 8 cores = 8 devices a host (v3-32: 4 hosts);
- v4, v5p: 4 chips of 2 TensorCores a host, fused into one JAX device a chip (megacore): 8 cores = 4 devices a
  host (v4-8: 1 host, v4-16: 2 hosts);
- v5e, v6e: 1 TensorCore a chip; one host of 1, 4 or 8 chips, and slices above 8 chips are made of 4-chip VMs
  (ct5lp-hightpu-4t, ct6e-standard-4t: cloud.google.com/kubernetes-engine/docs/concepts/plan-tpus and the v5e,
  v6e pages' VM types): v5litepod-16 is 4 hosts of 4 chips.
Every worker of a slice runs the queued resource's startup script; JAX then finds its peers by itself.
Standard library only: the workflow checks tpu.accelerator_type with it before any job.
"""

import re

# generation -> (what the name counts a host, JAX devices a host) for multi-host slices
PER_HOST = {"v2": (8, 8), "v3": (8, 8), "v4": (8, 4), "v5p": (8, 4), "v5litepod": (4, 4), "v6e": (4, 4)}
SINGLE_HOST = {"v5litepod": (1, 4, 8), "v6e": (1, 4, 8)}  # chips of the one-host v5e and v6e types


def slice_hosts(accelerator_type):
    """(hosts, JAX devices a host) of `accelerator_type` (e.g. v5litepod-16: (4, 4)); ValueError for a type
    this mapping does not know."""
    match = re.fullmatch(r"(v2|v3|v4|v5p|v5litepod|v6e)-(\d+)", accelerator_type)
    size = int(match.group(2)) if match else 0
    if match and size in SINGLE_HOST.get(match.group(1), ()):
        return 1, size
    # v5e and v6e slices are 2D: 4x4, 4x8, 8x8, 8x16, 16x16 chips
    square = match and match.group(1) not in SINGLE_HOST or (size & (size - 1) == 0 and size <= 256)
    if match and square and size > max(SINGLE_HOST.get(match.group(1), (0,))):
        per_host, devices = PER_HOST[match.group(1)]
        if size % per_host == 0:
            return size // per_host, devices
    raise ValueError(
        f"tpu.accelerator_type: {accelerator_type!r} is not a TPU type the pipeline can map to hosts: "
        "v2-N or v3-N (N TensorCores, a multiple of 8), v4-N or v5p-N (N TensorCores, a multiple of 8), "
        "v5litepod-N or v6e-N (N chips: 1, 4, 8, 16, 32, 64, 128 or 256)"
    )


def accelerator_type_error(accelerator_type):
    """The message for a type slice_hosts refuses, or None."""
    try:
        slice_hosts(accelerator_type)
    except ValueError as error:
        return str(error)
    return None
