"""The second training phase and gradient accumulation, through the trainer itself on a tiny model: phase 2
continues from phase 1's final weights in a folder of its own, trains the positions phase 1 never reached, starts
over when phase 1 trains further, and a checkpoint resumes under another gradient_accumulation_steps."""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

from bert_pretraining.training import checkpoints  # noqa: E402
from bert_pretraining.modeling import model as bert  # noqa: E402
from bert_pretraining.training import train  # noqa: E402
from bert_pretraining.training import train_settings  # noqa: E402
from bert_pretraining.logs import PipelineError  # noqa: E402
from synthetic_data import write_dataset  # noqa: E402

SEQ, PREDS, SEQ2, PREDS2 = 16, 3, 48, 8
FAST = dict(
    train_settings.defaults(),
    batch_size=16,
    learning_rate=2e-3,
    warmup_steps=5,
    num_train_steps=30,
    save_checkpoints_steps=10,
    log_every_steps=10,
    max_seq_length=SEQ,
    max_predictions_per_seq=PREDS,
    shuffle_buffer=256,
    seed=11,
    eval_steps=0,
    jit_compile=False,  # XLA's compile takes longer than these few steps
)
PHASE2 = dict(
    phase2_num_train_steps=20,
    phase2_max_seq_length=SEQ2,
    phase2_max_predictions_per_seq=PREDS2,
    phase2_batch_size=8,
    phase2_learning_rate=1e-3,
    phase2_warmup_steps=2,
    phase2_gradient_accumulation_steps=2,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("phases")
    short, config_path = write_dataset(str(root / "p1"), shards=2, per_shard=128, max_seq_length=SEQ, max_predictions=PREDS)
    long, _ = write_dataset(str(root / "p2"), shards=2, per_shard=128, max_seq_length=SEQ2, max_predictions=PREDS2)
    return dict(config=config_path, vocab=os.path.join(root, "p1", "vocab.txt"), short=short, long=long)


def run(data, out, **settings):
    try:
        return train.main(
            bert_config_path=data["config"],
            vocab_path=data["vocab"],
            train_files=data["short"][:1],
            eval_files=data["short"][1:],
            phase2_train_files=data["long"][:1],
            phase2_eval_files=data["long"][1:],
            model_dir=str(out / "ckpt" / "{config_hash}"),
            manifest_path=str(out / "manifest.json"),
            final_model_dir=str(out / "model"),
            **dict(FAST, **settings),
        )
    finally:
        checkpoints.release_locks()


def positions(model_dir):
    """The position embeddings of the weights a run kept."""
    config = bert.read_bert_config(os.path.join(model_dir, "bert_config.json"))
    model = bert.build_pretrainer(config)
    model.load_weights(os.path.join(model_dir, "pretrainer.weights.h5"))
    return model.backbone.get_layer("position_embedding").position_embeddings.numpy()


def cosine(a, b):
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.fixture(scope="module")
def two_phases(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("two")
    return out, run(data, out, **PHASE2)


def test_phase2_continues_from_phase1_in_a_folder_of_its_own(two_phases):
    out, two = two_phases
    (first,) = two["previous_phases"]
    assert first["phase"] == "phase1" and first["final_step"] == FAST["num_train_steps"]
    assert first["max_seq_length"] == SEQ and [w["step"] for w in first["losses"]] == [10, 20, 30]
    assert two["phase"] == "phase2" and two["final_step"] == 20 and two["max_seq_length"] == SEQ2
    assert two["gradient_accumulation_steps"] == 2 and two["batch_size"] == 8
    # A folder per phase-1 step that phase 2 starts from: phase 1 trained further starts phase 2 over.
    assert two["model_dir"] == f"{first['model_dir']}/phase2-from-00000030"
    assert train.phase_folder(first["model_dir"], 2, 40) != two["model_dir"]
    assert sorted(name for name in os.listdir(two["model_dir"]) if name.endswith(".npz")) == [
        "ckpt-00000010.npz",
        "ckpt-00000020.npz",
    ]
    meta, _ = checkpoints.load(two["checkpoint"])
    assert meta["phase"] == "phase2" and meta["step"] == 20
    # Evaluated on phase 2's held-out examples; the manifest on disk is the one returned.
    assert two["eval"]["examples"] > 0 and json.loads((out / "manifest.json").read_text())["phase"] == "phase2"


def position_embeddings(checkpoint):
    meta, arrays = checkpoints.load(checkpoint)
    return arrays[meta["variables"].index("position_embedding/embeddings")]


def test_phase2_trains_the_positions_phase1_never_reached(data, two_phases):
    _, two = two_phases
    keras.utils.set_random_seed(FAST["seed"])
    initial = bert.build_pretrainer(bert.read_bert_config(data["config"]))
    initial = initial.backbone.get_layer("position_embedding").position_embeddings.numpy()
    one = position_embeddings(two["previous_phases"][0]["checkpoint"])
    final = positions(str(two_phases[0] / "model"))
    np.testing.assert_array_equal(final, position_embeddings(two["checkpoint"]))
    # Phase 1 only shrinks positions SEQ.. (weight decay): the direction they started with.
    assert cosine(one[SEQ:SEQ2], initial[SEQ:SEQ2]) > 0.9999
    assert cosine(final[SEQ:SEQ2], initial[SEQ:SEQ2]) < 0.99
    assert not np.allclose(final[SEQ:SEQ2], one[SEQ:SEQ2], atol=1e-3)


def test_phase2_resumes_inside_itself_under_another_gradient_accumulation(data, two_phases, tmp_path):
    import shutil

    out, _ = two_phases
    shutil.copytree(out / "ckpt", tmp_path / "ckpt")
    # More phase-2 steps, now in 4 micro-batches a step: phase 2 resumes from its own newest checkpoint, phase 1
    # from its final one, without training.
    more = run(data, tmp_path, **dict(PHASE2, phase2_num_train_steps=30, phase2_gradient_accumulation_steps=4))
    assert more["start_step"] == 20 and more["final_step"] == 30 and more["gradient_accumulation_steps"] == 4
    assert more["previous_phases"][0]["start_step"] == more["previous_phases"][0]["final_step"] == 30
    assert [s["start_step"] for s in more["sessions"]] == [0, 20]
    assert [w["step"] for w in more["losses"]] == [10, 20, 30]
    with pytest.raises(PipelineError, match=r"phase2.batch_size \(8\) is not a multiple of phase2.gradient_accumulation_steps \(3\): set phase2.batch_size to 6 or 9"):
        run(data, tmp_path, **dict(PHASE2, phase2_num_train_steps=40, phase2_gradient_accumulation_steps=3))
