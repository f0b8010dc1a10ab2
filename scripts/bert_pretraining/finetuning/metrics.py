"""GLUE's metric per task, computed by scikit-learn and scipy: accuracy, F1 of the positive class (MRPC, QQP),
Matthews correlation (CoLA), Pearson and Spearman correlation (STS-B, regression tasks)."""

import math

import numpy as np
from scipy import stats
from sklearn import metrics as sk


def _correlation(function):
    def score(labels, predictions):
        # A constant prediction (an untrained regressor can give one) has no correlation: scipy warns, gives NaN.
        if np.ptp(predictions) == 0 or np.ptp(labels) == 0:
            return math.nan
        return function(labels, predictions).statistic

    return score


METRICS = {
    "accuracy": sk.accuracy_score,
    "f1": lambda labels, predictions: sk.f1_score(labels, predictions, pos_label=1, zero_division=0.0),
    "matthews_corrcoef": sk.matthews_corrcoef,
    "pearson": _correlation(stats.pearsonr),
    "spearman": _correlation(stats.spearmanr),
}


def compute(names, labels, predictions):
    """{metric: value} for `names`; classes as ids (F1's positive class is id 1, GLUE's "1"), regression as floats.
    NaN (no correlation defined) becomes None, which JSON can hold."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    values = {name: float(METRICS[name](labels, predictions)) for name in names}
    return {name: None if math.isnan(value) else value for name, value in values.items()}


def majority_class(names, train_ids, dev_ids):
    """The scores of always predicting the training file's most frequent class: the floor a model must beat."""
    most = np.bincount(train_ids).argmax()
    return compute(names, dev_ids, np.full_like(dev_ids, most))
