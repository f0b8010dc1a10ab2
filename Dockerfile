# The image every job of profiles/kubernetes runs in (the executor starts each job as `/bin/sh -c "... python -m
# snakemake ..."` in it, with no conda): Snakemake and the pipeline's runtime packages at requirements.txt's pins,
# and the Cloud Storage plugin through which jobs share data, at requirements-dev.txt's pin. The workflow's code
# is not in it: Snakemake ships the sources to each job through the bucket. tests/pipeline/test_envs.py checks this file.
# Build it, push it where the cluster can pull it, and name the same tag in profiles/kubernetes/config.yaml:
#   docker build -t REGISTRY/bert-pretraining:TAG .
#   docker push REGISTRY/bert-pretraining:TAG
FROM python:3.11-slim
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt snakemake-storage-plugin-gcs==1.1.4 \
    && rm /tmp/requirements.txt
WORKDIR /workdir
