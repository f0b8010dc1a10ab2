"""Fine-tune each task from the pre-trained model and from a random initialisation of the same architecture.

The head and its loss are keras-hub's BertTextClassifier over the project's BertBackbone (softmax cross-entropy
on the [CLS] output's logits; regression: one output, mean squared error), the optimizer and schedule the
project's pre-training ones with BERT's values (AdamW, decay 0.01 but not on biases and layer norms, clipped to
global norm 1, linear warm-up and decay; OPTIMIZER), as BERT's run_classifier.py fine-tunes. Every task is read and checked before the first
model is built, so a bad file stops the job before any training.
"""

import json
import logging
import math
import os
import time

import numpy as np

from bert_pretraining.atomic import atomic_path
from bert_pretraining.finetuning import metrics as glue_metrics
from bert_pretraining.finetuning.tasks import REGRESSION, encode, load_task
from bert_pretraining.modeling.bert_config import read_bert_config
from bert_pretraining.text.wordpiece_tokenizer import WordPieceTokenizer

log = logging.getLogger("finetune")
INITIALISATIONS = ("pretrained", "random_init")
# BERT's run_classifier.py fine-tunes with AdamW, decay 0.01, gradients clipped to norm 1, whatever pre-training used.
OPTIMIZER = {"optimizer": "adamw", "weight_decay": 0.01, "gradient_clip_norm": 1.0}
NO_TASKS = "finetune.tasks is empty: nothing to fine-tune (README, \"Fine-tuning\", says how to add GLUE or your own tasks)"


def prepare(tasks, model_dir, download_dir, *, do_lower_case, strip_accents, max_seq_length):
    """[(Task, encoded train inputs, {dev name: encoded inputs})], every task read and checked first."""
    loaded = [load_task(spec, download_dir) for spec in tasks]
    names = [task.name for task in loaded]
    tokenizer = WordPieceTokenizer(
        os.path.join(model_dir, "vocab.txt"), do_lower_case=do_lower_case, strip_accents=strip_accents
    )
    prepared = []
    for task in loaded:
        train = encode(task.train, tokenizer, max_seq_length)
        devs = {name: encode(split, tokenizer, max_seq_length) for name, split in task.devs.items()}
        log.info("%s: %d training, %s dev examples", task.name, len(task.train.texts),
                 {name: len(split.texts) for name, split in task.devs.items()})
        prepared.append((task, train, devs))
    log.info("tasks: %s", names)
    return prepared


def pretrained_backbone_weights(model_dir, bert_config):
    """The backbone's weights of the pre-trained model (train's pretrainer.weights.h5)."""
    from bert_pretraining.modeling import model as bert

    pretrainer = bert.build_pretrainer(bert_config)
    pretrainer.load_weights(os.path.join(model_dir, "pretrainer.weights.h5"))
    return pretrainer.backbone.get_weights()


def build_classifier(task, bert_config, *, dropout, weights, pooler):
    """BertTextClassifier over a fresh backbone: pre-trained `weights`, or (None) the random initialisation.

    `pooler` "reinitialized": the pooler (the dense + tanh layer over [CLS] that only the next-sentence task
    trains) starts from a fresh random initialisation, as for a random init, and not from pre-training's."""
    import keras
    import keras_hub

    from bert_pretraining.modeling import model as bert

    backbone = bert.build_backbone(dict(bert_config, hidden_dropout_prob=dropout))
    if weights is not None:
        backbone.set_weights(weights)
        if pooler == "reinitialized":
            dense = backbone.get_layer("pooled_dense")
            dense.kernel.assign(dense.kernel_initializer(dense.kernel.shape))
            dense.bias.assign(keras.ops.zeros(dense.bias.shape))
    classes = 1 if task.kind == REGRESSION else len(task.classes)
    return keras_hub.models.BertTextClassifier(backbone, classes, preprocessor=None, dropout=dropout)


def training_batches(task, train, batch_size, seed):
    """The training examples reshuffled every epoch (seeded), as tf.data: keras-hub's classifier turns arrays
    into batches in file order and ignores fit's shuffle."""
    import tensorflow as tf

    targets = task.label_ids(task.train)
    if task.kind == REGRESSION:
        targets = targets[:, None]  # the single output's shape
    data = tf.data.Dataset.from_tensor_slices((train, targets))
    return data.shuffle(len(targets), seed=seed, reshuffle_each_iteration=True).batch(batch_size)


def finetune_once(task, train, devs, bert_config, *, weights, seed, settings):
    """Fine-tune one model; {dev name: {metric: value}} on the task's dev sets."""
    import keras

    from bert_pretraining.modeling import model as bert

    keras.utils.set_random_seed(seed)  # the head, a random backbone, dropout and the data order
    classifier = build_classifier(task, bert_config, dropout=settings["dropout"], weights=weights,
                                  pooler=settings["pooler"])
    examples = len(task.train.texts)
    steps = settings["epochs"] * math.ceil(examples / settings["batch_size"])
    schedule = bert.WarmupLinearDecay(
        settings["learning_rate"], int(steps * settings["warmup_proportion"]), steps
    )
    regression = task.kind == REGRESSION
    classifier.compile(
        optimizer=bert.make_optimizer(schedule, **OPTIMIZER, loss_scale=False),
        # "auto": the library's sparse softmax cross-entropy on logits
        loss="mean_squared_error" if regression else "auto",
        metrics=[] if regression else "auto",
    )
    classifier.fit(training_batches(task, train, settings["batch_size"], seed), epochs=settings["epochs"], verbose=0)
    scores = {}
    for name, inputs in devs.items():
        outputs = classifier.predict(inputs, batch_size=max(64, settings["batch_size"]), verbose=0)
        predictions = outputs[:, 0] if regression else outputs.argmax(-1)
        scores[name] = glue_metrics.compute(task.metrics, task.label_ids(task.devs[name]), predictions)
    return scores


def spread(values):
    """Mean and population standard deviation over seeds (0 for one seed); None where a seed had no value."""
    if any(value is None for value in values):
        return None, None
    return float(np.mean(values)), float(np.std(values))


def task_scores(task, runs, seeds):
    """scores.json's entries for one task: one per dev set."""
    entries = {}
    for dev_name, split in task.devs.items():
        entry = {
            "task": task.name,
            "type": task.kind,
            "metric": task.metrics[0],
            "metrics": list(task.metrics),
            "train_examples": len(task.train.texts),
            "dev_examples": len(split.texts),
        }
        if task.kind != REGRESSION:
            entry["classes"] = list(task.classes)
            entry["majority_class"] = glue_metrics.majority_class(
                task.metrics, task.label_ids(task.train), task.label_ids(split)
            )
        for init in INITIALISATIONS:
            per_seed = {str(seed): runs[init, seed][dev_name] for seed in seeds}
            mean, std = spread([values[task.metrics[0]] for values in per_seed.values()])
            entry[init] = {"mean": mean, "std": std, "per_seed": per_seed}
        entries[dev_name] = entry
    return entries


def show(value):
    return "n/a" if value is None else f"{value:.4f}"


def markdown(scores, settings):
    """scores.md: one row per dev set, the headline metric's mean ± spread over seeds for both initialisations."""
    if not scores["tasks"]:
        return f"# Fine-tuning scores\n\n{NO_TASKS}\n"
    seeds = ", ".join(map(str, settings["seeds"]))
    lines = [
        "# Fine-tuning scores",
        "",
        f"Dev-set scores, mean ± standard deviation over seeds {seeds}; {settings['epochs']} epoch(s), batch "
        f"{settings['batch_size']}, learning rate {settings['learning_rate']:g}, {settings['max_seq_length']} tokens.",
        "",
        "| task | metric | pre-trained | random init | difference | majority class | train / dev examples |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, entry in scores["tasks"].items():
        pre, rnd = entry["pretrained"], entry["random_init"]
        cells = [f"{show(run['mean'])} ± {show(run['std'])}" for run in (pre, rnd)]
        both = pre["mean"] is not None and rnd["mean"] is not None
        diff = f"{pre['mean'] - rnd['mean']:+.4f}" if both else "n/a"
        floor = show(entry["majority_class"][entry["metric"]]) if "majority_class" in entry else "-"
        lines.append(f"| {name} | {entry['metric']} | {cells[0]} | {cells[1]} | {diff} | {floor} | "
                     f"{entry['train_examples']:,} / {entry['dev_examples']:,} |")
    return "\n".join(lines) + "\n"


def write_outputs(scores, settings, output_json, output_md):
    with atomic_path(output_json) as tmp, open(tmp, "w") as f:
        json.dump(scores, f, indent=2)
    with atomic_path(output_md) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(markdown(scores, settings))


def main(*, model_dir, output_json, output_md, download_dir, tasks, backend, device, do_lower_case, strip_accents,
         **settings):
    """Fine-tune every task of `tasks` (finetune.tasks) for every seed, both initialisations; write the scores.

    `settings`: learning_rate, batch_size, epochs, warmup_proportion, max_seq_length, dropout, pooler, seeds."""
    if not tasks:
        write_outputs({"tasks": {}, "settings": settings, "note": NO_TASKS}, settings, output_json, output_md)
        print(NO_TASKS)
        return
    started = time.monotonic()
    prepared = prepare(tasks, model_dir, download_dir, do_lower_case=do_lower_case, strip_accents=strip_accents,
                       max_seq_length=settings["max_seq_length"])
    from bert_pretraining.training.devices import distribution, select_backend

    select_backend(backend)  # before the first import of keras
    scope, _, platform = distribution(backend=backend, device=device)
    bert_config = read_bert_config(os.path.join(model_dir, "bert_config.json"))
    scores = {"tasks": {}, "settings": settings, "device": platform}
    with scope():
        weights = pretrained_backbone_weights(model_dir, bert_config)
        for task, train, devs in prepared:
            runs = {}
            for seed in settings["seeds"]:
                for init in INITIALISATIONS:
                    runs[init, seed] = finetune_once(task, train, devs, bert_config, seed=seed, settings=settings,
                                                     weights=weights if init == "pretrained" else None)
                    log.info("%s seed %d %s: %s", task.name, seed, init, runs[init, seed])
            scores["tasks"].update(task_scores(task, runs, settings["seeds"]))
    scores["seconds"] = round(time.monotonic() - started, 1)
    write_outputs(scores, settings, output_json, output_md)
    print(markdown(scores, settings), end="")
