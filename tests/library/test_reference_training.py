"""The project's training loop (train.main, as the pipeline calls it) against a trusted one: Hugging Face's
BertForPreTraining in a plain PyTorch loop (tests/fixtures/hf_reference_training.py), from the same initial weights (exported by
scripts/export.py's converter), on the same batches in the same order, with the same optimizer, schedule, clipping
and weight decay. Dropout is 0 so that both runs are deterministic and any difference is a difference of method.

Measured on a 2-core CPU with this file's setup (hidden 64, 2 layers, 2 heads, intermediate 128, vocab 64, batch 32,
32 tokens, 5 predictions, learning rate 2e-3, 20 warm-up steps, seed 7, windows of 10 steps), 200 steps:
- before training: masked-LM and next-sentence logits agree to 2e-7, the losses to 5e-7.
- float drift does not grow here: the torch run in float64, or from weights perturbed by 1e-6 (relative), moves
  its window means by at most 7e-7.
- the project against the reference: max window difference 9.2e-6 (masked-LM loss), 1.0e-5 (next-sentence
  loss); accuracies 7.8e-4 (masked LM: one near tie's argmax flipping) and 5e-6 (next sentence).
- faults it found or would find, same setup:
  - before model.AdamW densified IndexedSlices (commit 3e2a64b), Keras's global-norm clip took the segment
    embedding's gradient as tf.gather leaves it, one row per token, summing their squares before the rows were
    added up (norm 1.373 for 1.387 at step 1): the project learnt faster, 0.039 (masked LM) / 0.035 (next
    sentence) away. The reference with that norm reproduced (keras_sparse_norm) agreed with the old project to
    1.4e-5 / 6e-6: that was the whole difference. Reproduced against today's project: 0.039 / 0.035.
  - Adam's epsilon placed torch's way (keras_epsilon=False) instead of Keras's: 0.11 / 0.09.
- with dropout 0.1 (not run here), the run-to-run noise from dropout masks alone (initial weights and batches
  fixed), max window difference of the losses: torch seed 0 against seed 1, 0.085 (masked LM) / 0.11 (next
  sentence); Keras against itself with other dropout seed-generator states, 0.071 / 0.049; the two sides against
  each other 0.08-0.21 / 0.07-0.15. The clipping fault (0.04) hid in that noise: only a deterministic comparison
  sees faults of that size.

TOLERANCE 1e-3 on the window means of the losses: 100x the agreement measured (1e-5; the float drift 7e-7), so
other CPUs and BLAS builds pass; 40x below the clipping fault and 100x below a misplaced epsilon, so faults of
that size (an off-by-one schedule, a loss weighted otherwise, decay on layer norms) fail. Accuracies count
argmax hits, where a near tie can flip (one of a window's 1600 masked tokens: 6e-4; one of 320 next-sentence
examples: 3e-3): ACCURACY_TOLERANCE 1e-2, a few flips.
Runtime (one Keras run of 150 steps, two torch runs, the TensorFlow and torch imports): 38 s on the 2 idle cores,
61 s beside other test runs (load 4-5).
"""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import torch  # noqa: E402

import hf_reference_training as ref  # noqa: E402
from bert_pretraining.modeling import model as bert  # noqa: E402
from bert_pretraining.training import train  # noqa: E402
from bert_pretraining.training import train_settings  # noqa: E402
from schema_defaults import optimizer_defaults  # noqa: E402
from synthetic_data import tiny_bert_config, write_dataset  # noqa: E402

SEQ, PREDS, STEPS, WINDOW = 32, 5, 150, 10
TOLERANCE = 1e-3
ACCURACY_TOLERANCE = 1e-2
OPTIMIZER = optimizer_defaults()
CONFIG = dict(tiny_bert_config(vocab_size=64, hidden_size=64), intermediate_size=128)  # dropout 0
SETTINGS = dict(
    train_settings.defaults(),
    batch_size=32,
    learning_rate=2e-3,
    warmup_steps=20,
    num_train_steps=STEPS,
    log_every_steps=WINDOW,
    save_checkpoints_steps=STEPS,
    keep_checkpoints=1,
    max_seq_length=SEQ,
    max_predictions_per_seq=PREDS,
    shuffle_buffer=512,
    seed=7,
)
STREAM = {key: SETTINGS[key] for key in ("batch_size", "max_seq_length", "max_predictions_per_seq", "seed",
                                         "shuffle_buffer")}  # fmt: skip
LOSSES, ACCURACIES = ("mlm_loss", "nsp_loss"), ("mlm_accuracy", "nsp_accuracy")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("data"))
    files, config_path = write_dataset(
        folder, shards=2, per_shard=512, max_seq_length=SEQ, max_predictions=PREDS, bert_config=CONFIG
    )
    return {"train": files, "config": config_path, "vocab": os.path.join(folder, "vocab.txt")}


@pytest.fixture(scope="module")
def project(data, tmp_path_factory):
    """The project's log windows: train.main exactly as the pipeline calls it, settings from the schema's defaults."""
    out = tmp_path_factory.mktemp("run")
    summary = train.main(
        manifest_path=str(out / "manifest.json"),
        final_model_dir=str(out / "model"),
        eval_files=[],
        phase2_eval_files=[],  # phase 2 is off (the schema's phase2_num_train_steps 0), as the pipeline passes it
        phase2_train_files=[],
        bert_config_path=data["config"],
        vocab_path=data["vocab"],
        train_files=data["train"],
        model_dir=str(out / "ckpt"),
        **SETTINGS,
    )
    return summary["losses"]


def reference(data, **options):
    model = ref.hf_model(ref.initial_pretrainer(CONFIG, SETTINGS["seed"]), CONFIG)
    return ref.train(
        model,
        ref.training_batches(data["train"], **STREAM),
        steps=STEPS,
        log_every=WINDOW,
        learning_rate=SETTINGS["learning_rate"],
        warmup_steps=SETTINGS["warmup_steps"],
        **options,
    )


def test_the_training_stream_repeats_with_its_seed(data):
    """More than one pass over the files (32 batches): the file shuffle's reshuffle is seeded too."""
    first, second = (ref.training_batches(data["train"], **STREAM) for _ in range(2))
    for _ in range(40):
        a, b = next(first), next(second)
        for x, y in zip(ref.tf.nest.flatten(a), ref.tf.nest.flatten(b), strict=True):
            np.testing.assert_array_equal(x, y)


def test_the_exported_initial_model_gives_the_project_s_logits_and_losses(data):
    pretrainer = ref.initial_pretrainer(CONFIG, SETTINGS["seed"])
    model = ref.hf_model(pretrainer, CONFIG).eval()
    inputs, labels, weights = next(ref.training_batches(data["train"], **STREAM))
    bert.compile_pretrainer(pretrainer, bert.make_optimizer(bert.WarmupLinearDecay(1e-3, 1, 10), **OPTIMIZER))
    keras_out = {name: np.asarray(logits) for name, logits in pretrainer(inputs, training=False).items()}
    # The compiled loss (what fit minimises) and its two terms, as the project's compile call defines them.
    keras_total = float(pretrainer.compute_loss(x=inputs, y=labels, y_pred=keras_out, sample_weight=weights))
    keras_terms = {name: float(pretrainer.loss[name](labels[name], keras_out[name], weights[name])) for name in labels}
    batch = ref.torch_batch(inputs, labels, weights)
    with torch.no_grad():
        out = model(**batch)
        total, mlm, nsp, *_ = ref.losses(model, batch)
    rows = torch.arange(len(inputs["token_ids"]))[:, None]
    gathered = out.prediction_logits[rows, torch.tensor(inputs["masked_lm_positions"], dtype=torch.long)]
    np.testing.assert_allclose(gathered.numpy(), keras_out["mlm"], atol=1e-5)
    np.testing.assert_allclose(out.seq_relationship_logits.numpy(), keras_out["nsp"], atol=1e-5)
    # BertForPreTraining's own loss (mean over labelled positions + next sentence) is the project's compiled loss.
    assert float(out.loss) == pytest.approx(float(total), abs=1e-6)
    assert float(total) == pytest.approx(keras_total, abs=1e-5)
    assert float(mlm) == pytest.approx(keras_terms["mlm"], abs=1e-5)
    assert float(nsp) == pytest.approx(keras_terms["nsp"], abs=1e-5)


def test_the_torch_schedule_is_the_project_s_as_keras_evaluates_it():
    """The n-th update uses WarmupLinearDecay(n - 1): Keras reads the schedule at the iteration count before it
    increments, so the first update has a learning rate of 0."""
    peak, warmup, total = SETTINGS["learning_rate"], SETTINGS["warmup_steps"], 60
    keras_schedule = bert.WarmupLinearDecay(peak, warmup, total)
    optimizer, scheduler = ref.make_optimizer(
        torch.nn.Linear(2, 2), learning_rate=peak, warmup_steps=warmup, total_steps=total
    )
    used = []
    for _ in range(total + 5):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [float(keras_schedule(step)) for step in range(total + 5)]
    # BERT's shape: the ramp ends at peak x 19/20, then the decay from step 0 takes over at peak x (1 - 20/60).
    assert used[0] == 0.0 and max(used) == pytest.approx(peak * (warmup - 1) / warmup, rel=1e-6)
    np.testing.assert_allclose(used, expected, rtol=1e-6, atol=1e-12)


@pytest.fixture(scope="module")
def faithful(data):
    return reference(data)


def assert_agree(project, reference):
    losses = ref.max_window_difference(project, reference, keys=LOSSES)
    accuracies = ref.max_window_difference(project, reference, keys=ACCURACIES)
    assert max(losses.values()) < TOLERANCE and max(accuracies.values()) < ACCURACY_TOLERANCE, (losses, accuracies)


def test_the_project_trains_as_the_reference_does(project, faithful):
    assert_agree(project, faithful)


def test_the_tolerance_catches_the_old_clipping_fault(data, project):
    """The reference clipping by the norm Keras computed before model.AdamW densified the IndexedSlices: a 1-2%
    error in one step's scale, which the comparison must see."""
    fault = ref.max_window_difference(project, reference(data, keras_sparse_norm=True), keys=LOSSES)
    assert max(fault.values()) > 10 * TOLERANCE, fault
