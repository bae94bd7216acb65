"""The teacher cache (``memory=``): a grid search over student settings fits the
teachers once per training split and labels each split's synthetic rows once, and any
change to the teachers' inputs, or to the rows they label, misses."""

import numpy as np
import pytest
from joblib import Memory
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV

from skdistill import DistilledClassifier


class CountingLR(LogisticRegression):
    """LogisticRegression that counts its fits in a class attribute.

    The counter lives on the class, not the instance, so it is not part of the
    instance's pickle and cannot change the cache key that joblib hashes.
    """

    n_fits = 0
    n_labelled = 0  # rows passed to predict_proba

    def fit(self, X, y, sample_weight=None):
        CountingLR.n_fits += 1
        return super().fit(X, y, sample_weight=sample_weight)

    def predict_proba(self, X):
        CountingLR.n_labelled += X.shape[0]
        return super().predict_proba(X)


GRID = {
    "temperature": [1.0, 2.0, 4.0],
    "alpha": [0.5, 0.9],  # alpha=0 would skip the teachers altogether
    "hidden_layer_sizes": [(4,), (8,)],
}


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=240, n_features=5, n_informative=3, random_state=0)


def _model(memory, **kw):
    # in_sample soft targets: one teacher fit per call of fit_teachers, so the counter
    # reads directly as "teacher-ensemble fits".
    params = dict(teachers=[("lr", CountingLR())], soft_targets="in_sample", max_epochs=2,
                  batch_size=64, memory=memory, augmentation=None, random_state=0)
    params.update(kw)
    return DistilledClassifier(**params)


def _grid_search_fits(data, memory, **kw):
    CountingLR.n_fits = 0
    search = GridSearchCV(_model(memory, **kw), GRID, cv=3).fit(*data)
    assert len(search.cv_results_["params"]) == 12
    return CountingLR.n_fits


def test_grid_search_fits_teachers_once_per_fold_plus_refit(data, tmp_path):
    assert _grid_search_fits(data, None) == 12 * 3 + 1
    assert _grid_search_fits(data, str(tmp_path)) == 3 + 1
    # A second search with the same cache fits nothing new. (joblib stores a str
    # location under "<location>/joblib" but a Path one directly, so pass a str.)
    assert _grid_search_fits(data, Memory(str(tmp_path), verbose=0)) == 0


def test_cross_fitted_soft_targets_are_cached_too(data, tmp_path):
    # Out-of-fold soft targets with cv=2: two fits per ensemble fit.
    assert _grid_search_fits(data, str(tmp_path), soft_targets="oof", cv=2) == (3 + 1) * 2


def test_cached_fit_gives_the_same_model(data, tmp_path):
    X, y = data
    first = _model(str(tmp_path)).fit(X, y)
    CountingLR.n_fits = 0
    second = _model(str(tmp_path)).fit(X, y)
    assert CountingLR.n_fits == 0
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    # n_jobs and verbose are not part of the key.
    _model(str(tmp_path), n_jobs=2, verbose=0).fit(X, y)
    assert CountingLR.n_fits == 0


@pytest.mark.parametrize("change", ["data", "sample_weight", "teacher_param", "cv_seed"])
def test_changes_to_the_teachers_inputs_miss(data, tmp_path, change):
    X, y = data
    _model(str(tmp_path)).fit(X, y)
    CountingLR.n_fits = 0
    fit_params, model = {}, _model(str(tmp_path))
    if change == "data":
        X = X.copy()
        X[0, 0] += 1e-3
    elif change == "sample_weight":
        fit_params["sample_weight"] = np.linspace(0.5, 1.5, len(y))
    elif change == "teacher_param":
        model.set_params(teachers=[("lr", CountingLR(C=0.5))])
    else:
        model.set_params(random_state=1)
    model.fit(X, y, **fit_params)
    assert CountingLR.n_fits == 1


def test_the_key_is_the_values_not_their_memory_layout(data, tmp_path):
    # A DataFrame's array is column-major; the same values row-major hit its cache.
    X, y = data
    _model(str(tmp_path)).fit(np.asfortranarray(X), y)
    CountingLR.n_fits = 0
    _model(str(tmp_path)).fit(np.ascontiguousarray(X), y)
    assert CountingLR.n_fits == 0


@pytest.mark.parametrize("seed", [None, np.random.RandomState(0)])
def test_a_random_state_that_is_not_an_int_warns(data, tmp_path, seed):
    X, y = data
    with pytest.warns(UserWarning, match="cached teachers are never reused"):
        _model(str(tmp_path), random_state=seed).fit(X, y)


def test_student_settings_hit(data, tmp_path):
    X, y = data
    _model(str(tmp_path)).fit(X, y)
    CountingLR.n_fits = 0
    _model(str(tmp_path), hidden_layer_sizes=(3,), temperature=5.0, alpha=0.3,
           learning_rate=1e-2, max_epochs=1).fit(X, y)
    assert CountingLR.n_fits == 0


def test_default_teachers_are_cacheable_with_a_fixed_random_state(data, tmp_path,
                                                                monkeypatch):
    # teachers=None seeds the default ensemble from random_state. Stand in a one-member
    # "default ensemble" seeded the same way, to keep the test fast.
    monkeypatch.setattr(DistilledClassifier, "_default_teachers",
                        lambda self, seed, sparse=False: [("lr", CountingLR(random_state=seed))])
    X, y = data
    CountingLR.n_fits = 0
    for hidden in [(4,), (8,)]:
        _model(str(tmp_path), teachers=None, hidden_layer_sizes=hidden).fit(X, y)
    assert CountingLR.n_fits == 1
    # With random_state=None every fit draws new seeds, so nothing can be reused.
    for _ in range(2):
        _model(str(tmp_path), teachers=None, random_state=None).fit(X, y)
    assert CountingLR.n_fits == 3


def _counted_fit(model, X, y, **fit_params):
    CountingLR.n_fits = CountingLR.n_labelled = 0
    model.fit(X, y, **fit_params)
    return CountingLR.n_fits, CountingLR.n_labelled


def test_synthetic_rows_are_labelled_once(data, tmp_path):
    X, y = data
    munge = dict(augmentation="munge", augment_factor=3.0)
    fits, labelled = _counted_fit(_model(str(tmp_path), **munge), X, y)
    assert fits == 1 and labelled > 2 * len(y)  # the training rows, then the synthetic ones
    # Other student settings: the teachers and the synthetic rows' labels are read back.
    cached = _model(str(tmp_path), temperature=3.0, hidden_layer_sizes=(3,), **munge)
    assert _counted_fit(cached, X, y) == (0, 0)
    # ... and the model is the one an uncached fit makes.
    fresh = _model(None, temperature=3.0, hidden_layer_sizes=(3,), **munge).fit(X, y)
    np.testing.assert_array_equal(cached.predict_proba(X), fresh.predict_proba(X))
    assert cached.fit_info_["n_transfer_rows"] == fresh.fit_info_["n_transfer_rows"]


def test_teacher_weights_hit_both_caches(data, tmp_path):
    # The cache holds each teacher's outputs, not their average: a search over the
    # weights fits the teachers, and labels the synthetic rows, once.
    X, y = data
    params = dict(teachers=[("a", CountingLR()), ("b", CountingLR(C=0.01))],
                  augmentation="munge", augment_factor=3.0)
    assert _counted_fit(_model(str(tmp_path), **params), X, y)[0] == 2
    for weights in ([1.0, 3.0], [0.0, 1.0]):
        cached = _model(str(tmp_path), teacher_weights=weights, **params)
        assert _counted_fit(cached, X, y) == (0, 0)
        fresh = _model(None, teacher_weights=weights, **params).fit(X, y)
        np.testing.assert_array_equal(cached.predict_proba(X), fresh.predict_proba(X))


@pytest.mark.parametrize("change", ["augment_factor", "munge_p", "X_unlabeled"])
def test_other_rows_to_label_miss_only_the_labels(data, tmp_path, change):
    X, y = data
    params, fit_params = dict(augmentation="munge", augment_factor=3.0), {}
    _model(str(tmp_path), **params).fit(X, y)
    if change == "X_unlabeled":
        fit_params["X_unlabeled"] = X[:7] + 0.5
    else:
        params[change] = {"augment_factor": 2.0, "munge_p": 0.3}[change]
    fits, labelled = _counted_fit(_model(str(tmp_path), **params), X, y, **fit_params)
    assert fits == 0 and labelled > 0


def test_new_teachers_label_the_same_rows_again(data, tmp_path):
    X, y = data
    munge = dict(augmentation="munge", augment_factor=3.0)
    _model(str(tmp_path), **munge).fit(X, y)
    changed = _model(str(tmp_path), teachers=[("lr", CountingLR(C=0.5))], **munge)
    fits, labelled = _counted_fit(changed, X, y)
    assert fits == 1 and labelled > 2 * len(y)


@pytest.mark.parametrize("kind", ["sparse", "dataframe"])
def test_labels_are_cached_for_sparse_and_raw_table_input(data, tmp_path, kind):
    import pandas as pd
    import scipy.sparse as sp

    X, y = data
    if kind == "sparse":
        X = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X))
    else:  # a raw table: a category column and a missing value, encoded by the distiller
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
        X["city"] = pd.Categorical(np.where(y == 1, "a", "b"))
        X.iloc[0, 0] = np.nan
    munge = dict(augmentation="munge", augment_factor=2.0)
    first = _model(str(tmp_path), **munge)
    assert _counted_fit(first, X, y)[1] > len(y)
    second = _model(str(tmp_path), temperature=2.0, **munge)
    assert _counted_fit(second, X, y) == (0, 0)
    fresh = _model(None, temperature=2.0, **munge).fit(X, y)
    np.testing.assert_array_equal(second.predict_proba(X), fresh.predict_proba(X))


class CountingRidge(Ridge):
    """Ridge that counts the rows it predicts (module level: joblib pickles teachers)."""

    n_labelled = 0

    def predict(self, X):
        CountingRidge.n_labelled += X.shape[0]
        return super().predict(X)


def test_the_regressor_labels_its_synthetic_rows_once(tmp_path):
    from sklearn.datasets import make_regression

    from skdistill import DistilledRegressor

    X, y = make_regression(n_samples=200, n_features=4, noise=1.0, random_state=0)

    def fit(memory, **params):
        CountingRidge.n_labelled = 0
        model = DistilledRegressor(teachers=[("ridge", CountingRidge())], max_epochs=2,
                                   augment_factor=2.0, memory=memory, random_state=0,
                                   **params).fit(X, y)
        return model, CountingRidge.n_labelled

    assert fit(str(tmp_path))[1] > 2 * len(y)
    cached, labelled = fit(str(tmp_path), alpha=0.5)
    assert labelled == 0
    np.testing.assert_array_equal(cached.predict(X), fit(None, alpha=0.5)[0].predict(X))


def test_a_teacher_that_cannot_be_pickled_is_named_before_any_fit(data, tmp_path):
    class LocalLR(LogisticRegression):  # a class inside a function cannot be pickled
        pass

    X, y = data
    model = _model(str(tmp_path), teachers=[("lr", CountingLR()), ("local", LocalLR())])
    CountingLR.n_fits = 0
    with pytest.raises(TypeError, match="'local' cannot be pickled.*module level"):
        model.fit(X, y)
    assert CountingLR.n_fits == 0 and not hasattr(model, "student_")
    _model(None, teachers=[("local", LocalLR())]).fit(X, y)  # without a cache it fits


def test_a_main_class_that_this_process_cannot_find_is_named(data, tmp_path):
    # A worker process of a search (n_jobs=2) rebuilds a class of the user's script by
    # value, but pickle looks classes up by name in its own __main__, which lacks it.
    lost = type("Lost", (LogisticRegression,), {"__module__": "__main__"})
    X, y = data
    with pytest.raises(TypeError, match="class Lost is defined in __main__.*n_jobs=1"):
        _model(str(tmp_path), teachers=[("lost", lost())]).fit(X, y)


def test_the_training_data_is_hashed_once_per_fit(data, tmp_path, monkeypatch):
    # The cache keys on one hash of the teachers' inputs; hashing the data again for the
    # cached call would double the cost of a cache hit on a large table.
    import joblib.hashing

    X, y = data
    hash_ = joblib.hashing.hash
    hashed = []

    def counting(obj, *args, **kwargs):
        arrays = obj.values() if isinstance(obj, dict) else [obj]
        hashed.append(any(getattr(a, "shape", None) == X.shape for a in arrays))
        return hash_(obj, *args, **kwargs)

    monkeypatch.setattr(joblib.hashing, "hash", counting)
    monkeypatch.setattr(joblib, "hash", counting)
    for _ in range(2):  # a miss, then a hit
        hashed.clear()
        _model(str(tmp_path)).fit(X, y)
        assert sum(hashed) == 1
