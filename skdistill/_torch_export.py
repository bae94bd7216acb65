"""The fitted student as a torch module, and back.

:func:`to_torch` wraps the student's layers with ``_training.torch_student``, the same
``nn.Sequential`` that training uses (each layer's own ``torch_forward``), so the network
is described once. :func:`from_torch` reads a (fine-tuned) module back into a fitted
model with ``_training.numpy_student``. torch is imported only when these are called.
"""

import copy

from ._student import warn_float32_export


def _import_torch():
    try:
        import torch
    except ImportError:
        raise ImportError(
            "to_torch and from_torch need torch, which fit also needs: "
            "`pip install skdistill` installs it."
        ) from None
    return torch


def _check_model(model, what):
    from sklearn.utils.validation import check_is_fitted

    task = getattr(model, "_task", None)
    if task not in ("classification", "regression"):
        raise TypeError(f"{what} takes a fitted DistilledClassifier or DistilledRegressor; got "
                        f"{type(model).__name__}. For a Pipeline, pass its last step.")
    check_is_fitted(model)
    return task


def to_torch(model):
    """The fitted student as a ``torch.nn.Module`` on raw inputs.

    The module computes what the numpy student computes, in float32: the input
    standardization, the input encoding (standard, piecewise-linear or periodic), every
    layer and activation. It takes a float32 tensor of shape ``(n_samples,
    n_features)`` of raw (unstandardized) inputs, the columns ``fit`` saw, and returns

    - classifier: the logits, ``(n_samples, n_classes)``, columns in the order of
      ``classes_``. ``torch.softmax(module(x), dim=1)`` gives ``predict_proba``,
      ``logits.argmax(1)`` indexes ``classes_``.
    - regressor: the predictions in target units, ``(n_samples,)``, as ``predict``.

    They agree with the numpy student (which computes in float64) to float32 rounding,
    about 1e-6 on logits. The module is in eval mode, on the CPU; move it with
    ``.to(device)``. It is built from the same layer list as training, so its
    submodules are the student's layers: the trainable arrays (weights, biases,
    periodic frequencies) are ``nn.Parameter`` objects and the fitted statistics
    (standardization, quantile bins) are buffers.

    Use it for attribution (Captum's ``IntegratedGradients``, or plain gradients),
    for embedding the student in a torch model, or for fine-tuning. The module is a
    copy: training it does not change ``model``; :func:`from_torch` turns the trained
    module back into a fitted model that predicts with numpy.

    Parameters
    ----------
    model : DistilledClassifier or DistilledRegressor
        A fitted model (a serving copy from :func:`serving` works too).

    Returns
    -------
    module : torch.nn.Sequential
        In eval mode, float32, on the CPU, with ``requires_grad=True`` parameters.

    See Also
    --------
    from_torch : A fitted model from the (fine-tuned) module.
    to_onnx : The same network as an ONNX graph.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier, to_torch
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))],
    ...                             max_epochs=5, random_state=0).fit(X, y)
    >>> net = to_torch(model)
    >>> with torch.no_grad():
    ...     proba = torch.softmax(net(torch.as_tensor(X, dtype=torch.float32)), dim=1)
    >>> bool(np.abs(proba.numpy() - model.predict_proba(X)).max() < 1e-5)
    True
    """
    task = _check_model(model, "to_torch")
    torch = _import_torch()
    from ._training import torch_student

    warn_float32_export(model.student_, "torch")
    net = torch_student(model.student_)
    if task == "regression":
        # predict returns (n_samples,) for the single target; so does the module.
        net.append(torch.nn.Flatten(0))
    return net.float().eval()


def from_torch(model, module):
    """A copy of ``model`` whose student is read back from a torch module.

    The reverse of :func:`to_torch`: after fine-tuning the module it returned, this
    gives a fitted model that predicts with numpy alone, pickles, saves and exports as
    before. ``model`` itself is not changed. The module must be the ``nn.Sequential``
    that :func:`to_torch` returned (its layers, in order); its trainable arrays are
    copied to the CPU as float32, and its buffers (standardization, bins) are read
    from the layers as they were. ``history_`` and ``fit_info_`` still describe the
    original fit.

    Parameters
    ----------
    model : DistilledClassifier or DistilledRegressor
        The fitted model that ``module`` came from.
    module : torch.nn.Sequential
        The module returned by ``to_torch(model)``, possibly trained further.

    Returns
    -------
    model : DistilledClassifier or DistilledRegressor
        A shallow copy of ``model`` with the module's weights.

    Raises
    ------
    ValueError
        When the module's layers do not fit ``model`` (another width or number of
        outputs) or hold non-finite numbers.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier, from_torch, to_torch
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))],
    ...                             max_epochs=5, random_state=0).fit(X, y)
    >>> net = to_torch(model).train()
    >>> optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    >>> X_t, y_t = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    >>> for _ in range(20):
    ...     optimizer.zero_grad()
    ...     loss = torch.nn.functional.cross_entropy(net(X_t), y_t)
    ...     loss.backward()
    ...     optimizer.step()
    >>> tuned = from_torch(model, net)
    >>> tuned.predict_proba(X).shape
    (150, 3)
    >>> bool(np.array_equal(model.predict_proba(X), tuned.predict_proba(X)))
    False
    """
    _check_model(model, "from_torch")
    _import_torch()
    from ._student import nonfinite_arrays
    from ._training import numpy_student

    student = numpy_student(module)
    if not student.layers:
        raise ValueError("from_torch takes the nn.Sequential that to_torch returned; its "
                         f"modules hold no student layers: {type(module).__name__}.")
    n_out = student.check(model.n_features_in_)
    if n_out != model.student_.n_outputs:
        raise ValueError(f"The module has {n_out} outputs; the model's student has "
                         f"{model.student_.n_outputs}.")
    bad = nonfinite_arrays(student)
    if bad:
        raise ValueError(f"The module holds non-finite values in {bad}.")
    tuned = copy.copy(model)
    tuned.student_ = student
    return tuned
