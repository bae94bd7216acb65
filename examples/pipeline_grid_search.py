"""Tune the distillation in a Pipeline with GridSearchCV, fitting the teachers once.

The student's temperature, alpha and width are ordinary hyperparameters, so
GridSearchCV tunes them like any other. The teachers do not depend on those settings,
so ``memory=`` caches the fitted teachers and their soft targets on disk, keyed by the
teachers, the soft-target settings and the exact training data: each cross-validation
split fits the teachers once, and every candidate on that split reuses them.

Preprocessing goes in the Pipeline as usual. Here a ColumnTransformer one-hot encodes a
categorical column and scales the numeric ones; the student sees the transformed matrix.
"""

import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skdistill import DistilledClassifier

data = load_breast_cancer(as_frame=True)
X = data.frame.drop(columns="target")
y = data.target
# A categorical column, to show the preprocessing: the tumour's size as a band.
X["size_band"] = pd.cut(X["mean area"], [0, 400, 700, np.inf], labels=["small", "medium", "large"])
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

numeric = [c for c in X.columns if c != "size_band"]
preprocess = make_column_transformer(
    (OneHotEncoder(handle_unknown="ignore"), ["size_band"]),
    (StandardScaler(), numeric),
)

with tempfile.TemporaryDirectory() as cache_dir:
    model = DistilledClassifier(
        teachers=[
            ("rf", RandomForestClassifier(n_estimators=60, random_state=0)),
            ("et", ExtraTreesClassifier(n_estimators=60, random_state=0)),
        ],
        cv=3,                 # folds for the out-of-fold soft targets
        max_epochs=60,
        memory=cache_dir,     # fit the teachers once per training split
        random_state=0,
    )
    pipe = make_pipeline(preprocess, model)
    grid = {
        "distilledclassifier__temperature": [1.0, 4.0],
        "distilledclassifier__alpha": [0.5, 0.9],
        "distilledclassifier__hidden_layer_sizes": [(32,), (128, 64)],
    }
    search = GridSearchCV(pipe, grid, cv=3)
    start = time.perf_counter()
    search.fit(X_train, y_train)
    seconds = time.perf_counter() - start

    n_candidates = len(search.cv_results_["params"])
    print(f"{n_candidates} candidates x 3 folds + 1 refit in {seconds:.1f} s")
    print(f"best parameters: {search.best_params_}")
    print(f"best CV accuracy: {search.best_score_:.3f}")
    print(f"test accuracy:    {search.score(X_test, y_test):.3f}")

    # The refit on all training rows filled the cache too: fitting the best pipeline
    # again on the same rows loads the teachers and soft targets instead of refitting.
    first = search.best_estimator_[-1].fit_info_["teacher_fit_seconds"]
    again = clone(search.best_estimator_).fit(X_train, y_train)[-1]
    print(f"teacher phase: {first:.2f} s when fitted, "
          f"{again.fit_info_['teacher_fit_seconds']:.2f} s from the cache")
