"""to_torch / from_torch: the student as a torch module on raw inputs, and back.

Parity with the numpy student over every input encoding and activation, shapes that
match predict, trainable parameters, and an attribution that Captum (optional) computes.
"""

import copy
import pickle

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import DistilledClassifier, DistilledRegressor, from_torch, serving, to_torch
from skdistill._student import ACTIVATIONS, INPUT_ENCODINGS, build_student, softmax

torch = pytest.importorskip("torch")

TOL = 1e-5


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return X, y / y.std()  # target units of order 1, so that 1e-5 is float32 rounding


def _fit_classifier(X, y, encoding):
    return DistilledClassifier(
        teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression()))], cv=2,
        augmentation=None, max_epochs=3, hidden_layer_sizes=(32, 16),
        input_encoding=encoding, random_state=0).fit(X, y)


def _run(net, X):
    with torch.no_grad():
        return net(torch.as_tensor(X, dtype=torch.float32)).numpy()


@pytest.mark.parametrize("encoding", INPUT_ENCODINGS)
def test_classifier_logits_match_numpy(cancer, encoding):
    X, y = cancer
    model = _fit_classifier(X, y, encoding)
    net = to_torch(model)
    assert not net.training
    logits = _run(net, X)
    diff = np.abs(logits - model.student_.forward(X)).max()
    print(f"\nclassifier {encoding}: max |torch - numpy| logits = {diff:.2e}")
    assert diff <= TOL
    assert np.abs(softmax(logits) - model.predict_proba(X)).max() <= TOL
    assert all(p.requires_grad and p.dtype == torch.float32 for p in net.parameters())


@pytest.mark.parametrize("encoding", INPUT_ENCODINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_layer_type_and_activation(cancer, encoding, activation):
    """Random students of every encoding and activation, swapped into a fitted model."""
    X, y = cancer
    model = copy.copy(_fitted_once(cancer))
    model.student_ = build_student(X, 2, (24, 12), activation=activation,
                                   input_encoding=encoding, random_state=1)
    diff = np.abs(_run(to_torch(model), X) - model.student_.forward(X)).max()
    assert diff <= TOL, (encoding, activation, diff)


_CACHE = {}


def _fitted_once(cancer):
    if "clf" not in _CACHE:
        _CACHE["clf"] = _fit_classifier(*cancer, "standard")
    return _CACHE["clf"]


@pytest.mark.parametrize("encoding", INPUT_ENCODINGS)
def test_regressor_predictions_match_predict(diabetes, encoding):
    X, y = diabetes
    model = DistilledRegressor(teachers=[("lr", LinearRegression())], cv=2, augmentation=None,
                               max_epochs=3, input_encoding=encoding, random_state=0).fit(X, y)
    out = _run(to_torch(model), X)
    assert out.shape == model.predict(X).shape == (len(X),)
    diff = np.abs(out - model.predict(X)).max()
    print(f"\nregressor {encoding}: max |torch - predict| = {diff:.2e}")
    assert diff <= TOL


def test_module_is_a_copy_and_from_torch_round_trips(cancer):
    X, y = cancer
    model = _fitted_once(cancer)
    before = model.predict_proba(X)
    net = to_torch(model)
    # Unchanged weights read back give the same predictions.
    np.testing.assert_allclose(from_torch(model, net).predict_proba(X), before, atol=1e-12)
    # Fine-tuning moves the module, never the model; from_torch brings it back.
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05)
    X_t = torch.as_tensor(X, dtype=torch.float32)
    for _ in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(X_t), torch.as_tensor(y)).backward()
        optimizer.step()
    np.testing.assert_array_equal(model.predict_proba(X), before)
    tuned = from_torch(model, net)
    assert not np.array_equal(tuned.predict_proba(X), before)
    assert np.abs(softmax(_run(net.eval(), X)) - tuned.predict_proba(X)).max() <= TOL
    # The tuned model is an ordinary fitted model: no tensors in it, it pickles.
    assert pickle.loads(pickle.dumps(tuned)).predict(X).shape == (len(X),)
    assert all(isinstance(a, np.ndarray) for layer in tuned.student_.layers
               for a in layer.arrays().values())


def test_serving_copy_and_errors(cancer):
    X, _ = cancer
    model = _fitted_once(cancer)
    assert np.abs(_run(to_torch(serving(model)), X) - model.student_.forward(X)).max() <= TOL
    with pytest.raises(TypeError, match="last step"):
        to_torch(make_pipeline(StandardScaler()))
    other = copy.copy(model)
    other.student_ = build_student(X, 3, (8,), random_state=0)
    with pytest.raises(ValueError, match="3 outputs"):
        from_torch(model, to_torch(other))
    with pytest.raises(ValueError, match="no student layers"):
        from_torch(model, torch.nn.Sequential(torch.nn.ReLU()))


def test_integrated_gradients_with_captum(cancer):
    captum_attr = pytest.importorskip(
        "captum.attr", reason="captum is not installed: pip install skdistill[explain]")
    X, _ = cancer
    model = _fitted_once(cancer)
    net = to_torch(model)
    x = torch.as_tensor(X[:8], dtype=torch.float32)
    baseline = torch.as_tensor(X.mean(axis=0, keepdims=True), dtype=torch.float32)
    ig = captum_attr.IntegratedGradients(net)
    attributions, delta = ig.attribute(x, baselines=baseline, target=1, n_steps=64,
                                       return_convergence_delta=True)
    assert attributions.shape == x.shape
    # Completeness: the attributions add up to f(x) - f(baseline), up to the quadrature.
    gap = (_run(net, X[:8])[:, 1] - _run(net, baseline.numpy())[:, 1])
    np.testing.assert_allclose(attributions.sum(1).detach().numpy(), gap,
                               atol=0.05 * np.abs(gap).max() + 1e-3)
    assert float(delta.abs().max()) < 0.05 * np.abs(gap).max() + 1e-3


@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_packed_ensemble_fine_tunes_and_comes_back(cancer, estimator):
    """A packed student's module outputs the members' combination in training mode too,
    so a user's own loss applies unchanged, and the tuned weights come back."""
    X, y = cancer
    if estimator == "classifier":
        model = DistilledClassifier(
            teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression()))], cv=2,
            augmentation=None, max_epochs=3, hidden_layer_sizes=(32, 16), n_members=3,
            random_state=0).fit(X, y)
        loss_of = torch.nn.functional.cross_entropy
        target = torch.as_tensor(y)
        output = lambda m: m.student_.forward(X)  # noqa: E731
    else:
        model = DistilledRegressor(teachers=[("lr", LinearRegression())], cv=2,
                                   augmentation=None, max_epochs=3, hidden_layer_sizes=(32, 16),
                                   n_members=3, random_state=0).fit(X, X[:, 0])
        target = torch.as_tensor(X[:, 0], dtype=torch.float32)
        loss_of = torch.nn.functional.mse_loss
        output = lambda m: m.predict(X)  # noqa: E731  (one target: a flat module output)
    net = to_torch(model)
    assert np.abs(_run(net, X) - output(model)).max() <= TOL * max(1.0, np.abs(output(model)).max())
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(3):
        optimizer.zero_grad()
        loss = loss_of(net(torch.as_tensor(X, dtype=torch.float32)), target)
        loss.backward()
        optimizer.step()
    tuned = from_torch(model, net.eval())
    assert tuned.student_.n_members == 3
    np.testing.assert_allclose(output(tuned), _run(net, X), rtol=1e-4, atol=1e-4)
    assert not np.array_equal(output(tuned), output(model))
