"""The fine-tuned models: the pre-trained one starts from train's backbone weights, the random one from none of
them, the head and loss are keras-hub's classifier's, and a regression task gets one output."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


from bert_pretraining.finetuning import train as finetuning  # noqa: E402
from bert_pretraining.finetuning.tasks import CLASSIFICATION, REGRESSION, Split, Task  # noqa: E402
from synthetic_data import perturbed_pretrainer, tiny_bert_config  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model dir as train leaves it: bert_config.json's sizes and pretrainer.weights.h5, weights perturbed."""
    folder = tmp_path_factory.mktemp("model")
    config = tiny_bert_config()
    pretrainer = perturbed_pretrainer(config, seed=5, scale=0.1)
    pretrainer.save_weights(str(folder / "pretrainer.weights.h5"))
    return folder, config, [w.numpy() for w in pretrainer.backbone.weights]


def task(kind, classes=None):
    split = Split("x", texts=["a"] * 6, labels=[0.5] * 6 if kind == REGRESSION else ["p", "q"] * 3)
    return Task("t", kind, classes, ("accuracy",), split, {"t": split})


def test_pretrained_starts_from_the_trained_backbone_and_random_init_does_not(trained):
    folder, config, expected = trained
    weights = finetuning.pretrained_backbone_weights(str(folder), config)
    classification = task(CLASSIFICATION, ("p", "q", "r"))
    pretrained = finetuning.build_classifier(classification, config, dropout=0.1, weights=weights, pooler="pretrained")
    random_init = finetuning.build_classifier(classification, config, dropout=0.1, weights=None, pooler="pretrained")
    got = [w.numpy() for w in pretrained.backbone.weights]
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))
    token = lambda model: model.backbone.get_layer("token_embedding").embeddings.numpy()  # noqa: E731
    assert not np.allclose(token(random_init), token(pretrained))
    assert pretrained.get_layer("logits").units == 3 and pretrained.backbone.dropout == 0.1
    assert finetuning.build_classifier(task(REGRESSION), config, dropout=0.0, weights=None,
                                       pooler="pretrained").get_layer("logits").units == 1
    # A fresh pooler: every other weight pre-training's, the pooler's kernel new and its bias zero
    fresh = finetuning.build_classifier(classification, config, dropout=0.1, weights=weights, pooler="reinitialized")
    dense = fresh.backbone.get_layer("pooled_dense")
    pooler_weights = {id(w) for w in dense.weights}
    for w, e in zip(fresh.backbone.weights, expected):
        assert np.array_equal(w.numpy(), e) != (id(w) in pooler_weights), w.path
    assert np.std(dense.kernel.numpy()) < 0.03 and not dense.bias.numpy().any()  # trained: about 0.1


def test_one_run_trains_and_scores_each_dev_set(trained):
    folder, config, _ = trained
    inputs = {"token_ids": np.tile(np.arange(8, dtype=np.int32), (6, 1)), "segment_ids": np.zeros((6, 8), np.int32),
              "padding_mask": np.ones((6, 8), bool)}
    settings = {"learning_rate": 1e-3, "batch_size": 2, "epochs": 1, "warmup_proportion": 0.1, "dropout": 0.0,
                "pooler": "pretrained"}
    for kind, metric in ((CLASSIFICATION, "accuracy"), (REGRESSION, "pearson")):
        one = task(kind, ("p", "q") if kind == CLASSIFICATION else None)
        one.metrics = (metric,)
        scores = finetuning.finetune_once(one, inputs, {"t": inputs}, config, weights=None, seed=1, settings=settings)
        assert list(scores) == ["t"] and list(scores["t"]) == [metric]
    # every input the same, constant regression targets: no correlation is defined, and JSON gets null
    assert scores["t"]["pearson"] is None


def test_training_batches_are_reshuffled_every_epoch_by_the_seed():
    """keras-hub's classifier batches arrays in file order whatever fit's shuffle says: the order is ours."""
    n = 64
    one = task(CLASSIFICATION, ("p", "q"))
    one.train = Split("x", texts=["a"] * n, labels=["p", "q"] * (n // 2))
    train = {"token_ids": np.arange(n, dtype=np.int32)[:, None]}
    order = lambda data: [int(i) for x, _ in data for i in x["token_ids"][:, 0]]  # noqa: E731
    data = finetuning.training_batches(one, train, 8, seed=3)
    first, second = order(data), order(data)
    assert sorted(first) == sorted(second) == list(range(n)) and first != second != list(range(n))
    assert order(finetuning.training_batches(one, train, 8, seed=3)) == first
