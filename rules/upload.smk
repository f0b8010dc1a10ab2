# Recipe step 9, only with a bucket: without one, everything stays local and the DAG has no upload job.
if BUCKET:

    rule upload:
        input:
            all_records,
            f"{RESULTS}/bert_model/bert_config.json",
            f"{RESULTS}/bert_model/vocab.txt",
            [f"{RESULTS}/tpu/code"] if TPU else [],
        output:
            f"{RESULTS}/upload/manifest.json",
        log:
            f"{RESULTS}/logs/upload/upload.log",
        benchmark:
            f"{RESULTS}/benchmarks/upload/upload.tsv"
        params:
            local=list(upload_folders()),
            remote=list(upload_folders().values()),
            # training's checkpoints and result in the bucket's bert_model/: not the upload's to delete
            keep=bucket.TRAINING_OUTPUTS,
        resources:
            mem_mb=1000,
            runtime=30 + LINES // 1_000_000,
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/upload.py"


# What a TPU VM fetches to train: the training entry point and the scripts it imports, the config schema (the
# training command line's defaults) and the pinned requirements; nothing else of the checkout.
if TPU:

    rule tpu_code:
        input:
            scripts=imported_scripts(os.path.join(workflow.basedir, "scripts", TPU_ENTRY)),
            schema=os.path.join(workflow.basedir, "schemas", "config.schema.yaml"),
            requirements=os.path.join(workflow.basedir, "requirements.txt"),
        output:
            directory(f"{RESULTS}/tpu/code"),
        log:
            f"{RESULTS}/logs/tpu_code/tpu_code.log",
        params:
            # scripts/'s layout (the package's folders), kept under code/scripts/: the entry is in scripts/
            scripts=lambda wildcards, input: os.path.dirname(input.scripts[0]),
            files=lambda wildcards, input: [
                os.path.relpath(path, os.path.dirname(input.scripts[0])) for path in input.scripts
            ],
            out=lambda wildcards, output: os.path.abspath(f"{output}.tmp"),
        resources:
            mem_mb=200,
            runtime=5,
        conda:
            "../envs/data.yaml"
        shell:
            "(rm -rf {output}.tmp && mkdir -p {output}.tmp/scripts {output}.tmp/schemas "
            "&& (cd {params.scripts} && cp --parents {params.files} {params.out}/scripts/) "
            "&& cp {input.schema} {output}.tmp/schemas/ "
            "&& cp {input.requirements} {output}.tmp/ && mv {output}.tmp {output}) 2> {log}"
