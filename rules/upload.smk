# Recipe step 9, only with a bucket: without one, everything stays local and the DAG has no upload job.
if BUCKET:

    rule upload:
        input:
            pretraining_records,
            f"{RESULTS}/bert_model/bert_config.json",
            f"{RESULTS}/bert_model/vocab.txt",
        output:
            f"{RESULTS}/upload/manifest.json",
        log:
            f"{RESULTS}/logs/upload/upload.log",
        benchmark:
            f"{RESULTS}/benchmarks/upload/upload.tsv"
        params:
            local=[f"{RESULTS}/bert_model", f"{RESULTS}/pretraining_data"],
            remote=[f"{BUCKET_URL}/bert_model", f"{BUCKET_URL}/pretraining_data"],
        resources:
            mem_mb=1000,
            runtime=30 + LINES // 1_000_000,
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/upload.py"
