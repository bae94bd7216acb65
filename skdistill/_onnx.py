"""Export the student as one ONNX graph: standardization, the MLP, and the output head.

Built with the ``onnx`` helper API node by node, because the graph is small and fixed:
a converter library would add a dependency and a second source of truth for the math
that ``_student.py`` already defines.
"""

import json

import numpy as np

#: ONNX opset of the exported graph: 17 is read by every onnxruntime since 1.13.
OPSET = 17


def _import_onnx():
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ImportError(
            "ONNX export needs the onnx package. Install it with "
            "`pip install skdistill[onnx]` (or `pip install onnx`)."
        ) from None
    return onnx, TensorProto, helper, numpy_helper


def to_onnx(model, path=None, *, input_name="X", doc_string=None, metadata=None):
    """Export a fitted model's student as a single ONNX graph.

    The graph takes a float32 matrix of shape ``(n_samples, n_features)`` and computes
    what ``predict_proba`` (classifier) or ``predict`` (regressor) computes: the input
    standardization, every layer with its activation (relu, tanh, the tanh
    approximation of gelu, or silu) and, for a classifier, a softmax.

    Outputs:

    - classifier: ``probabilities`` (float32, ``(n_samples, n_classes)``, columns in the
      order of ``classes_``) and ``label`` (int64 index into ``classes_``). The class
      labels themselves are stored in the model's metadata as JSON (``classes``).
    - regressor: ``predictions`` (float32), ``(n_samples,)`` for one target and
      ``(n_samples, n_targets)`` for several, as ``predict`` returns them.

    The graph computes in float32: probabilities agree with ``predict_proba`` (which
    returns float64) to about 1e-6.

    Parameters
    ----------
    model : DistilledClassifier or DistilledRegressor
        A fitted model.
    path : str or path-like, optional
        Where to write the ``.onnx`` file. When None, nothing is written.
    input_name : str, default="X"
        Name of the graph's input.
    doc_string : str, optional
        Stored as the graph's documentation.
    metadata : dict of str to str, optional
        Extra entries for the model's metadata (``metadata_props``), next to ``task``,
        ``estimator``, ``activation``, ``n_features``, ``classes`` and ``feature_names``,
        which it may override.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ImportError
        When ``onnx`` is not installed; ``pip install skdistill[onnx]`` installs it.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdistill import DistilledClassifier, to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> model = DistilledClassifier(teachers=[("lr", LogisticRegression(max_iter=500))],
    ...                             max_epochs=5, random_state=0).fit(X, y)
    >>> proto = to_onnx(model)
    >>> session = ort.InferenceSession(proto.SerializeToString(),
    ...                                providers=["CPUExecutionProvider"])
    >>> proba, label = session.run(None, {"X": X.astype(np.float32)})
    >>> bool(np.abs(proba - model.predict_proba(X)).max() < 1e-5)
    True
    """
    from sklearn.utils.validation import check_is_fitted

    from . import __version__

    onnx, TensorProto, helper, numpy_helper = _import_onnx()
    check_is_fitted(model)
    task = getattr(model, "_task", None)
    if task not in ("classification", "regression"):
        raise TypeError(
            f"to_onnx exports DistilledClassifier and DistilledRegressor models; got "
            f"{type(model).__name__}."
        )
    student = model.student_
    n_features = student.coefs[0].shape[0]
    n_out = student.coefs[-1].shape[1]

    initializers, nodes = [], []

    def const(name, array):
        initializers.append(numpy_helper.from_array(np.asarray(array), name=name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=f"{op}_{len(nodes)}", **attrs))
        return output

    # (X - mean) * inv_scale, exactly as MLPStudent.forward does it.
    h = node("Sub", [input_name, const("mean", student.mean)], "centered")
    h = node("Mul", [h, const("inv_scale", student.inv_scale)], "standardized")
    last = len(student.coefs) - 1
    for i, (W, b) in enumerate(zip(student.coefs, student.intercepts)):
        h = node("MatMul", [h, const(f"coef_{i}", W)], f"matmul_{i}")
        h = node("Add", [h, const(f"intercept_{i}", b)], f"layer_{i}")
        if i < last:
            h = _activation(node, const, student.activation, h, i)

    if task == "classification":
        outputs = [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_out]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ]
        node("Softmax", [h], "probabilities", axis=1)
        node("ArgMax", [h], "label", axis=1, keepdims=0)
    else:
        if n_out == 1:
            # predict returns a 1-D array for a single target; so does the graph.
            node("Squeeze", [h, const("squeeze_axes", np.array([1], dtype=np.int64))],
                 "predictions")
            shape = ["N"]
        else:
            node("Identity", [h], "predictions")
            shape = ["N", n_out]
        outputs = [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, shape)]

    graph = helper.make_graph(
        nodes, f"skdistill_{type(model).__name__}",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", n_features])],
        outputs, initializer=initializers,
        doc_string=doc_string or "skdistill student: standardize, MLP, output head",
    )
    proto = helper.make_model(
        graph, producer_name="skdistill", producer_version=__version__,
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    # IR version 8 is what opset 17 shipped with; older runtimes refuse newer IRs.
    proto.ir_version = 8
    meta = {"task": task, "estimator": type(model).__name__,
            "activation": student.activation, "n_features": str(n_features)}
    if task == "classification":
        meta["classes"] = json.dumps(np.asarray(model.classes_).tolist())
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        meta["feature_names"] = json.dumps([str(n) for n in names])
    meta.update(metadata or {})
    helper.set_model_props(proto, {str(k): str(v) for k, v in meta.items()})
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save_model(proto, str(path))
    return proto


def _activation(node, const, name, h, i):
    f32 = np.float32
    if name == "relu":
        return node("Relu", [h], f"relu_{i}")
    if name == "tanh":
        return node("Tanh", [h], f"tanh_{i}")
    if name == "silu":
        s = node("Sigmoid", [h], f"sigmoid_{i}")
        return node("Mul", [h, s], f"silu_{i}")
    # gelu, tanh approximation, written as _student._gelu computes it:
    # 0.5 * z * (1 + tanh(sqrt(2/pi) * (z + 0.044715 * z**3))). Opset 20's Gelu would
    # do it in one node, but older runtimes lack it.
    z3 = node("Mul", [h, node("Mul", [h, h], f"gelu_sq_{i}")], f"gelu_cube_{i}")
    inner = node("Add", [h, node("Mul", [z3, const(f"gelu_c_{i}", f32(0.044715))],
                                 f"gelu_cz3_{i}")], f"gelu_inner_{i}")
    t = node("Tanh", [node("Mul", [inner, const(f"gelu_k_{i}", f32(np.sqrt(2.0 / np.pi)))],
                           f"gelu_scaled_{i}")], f"gelu_tanh_{i}")
    one_plus = node("Add", [t, const(f"gelu_one_{i}", f32(1.0))], f"gelu_1p_{i}")
    half_z = node("Mul", [h, const(f"gelu_half_{i}", f32(0.5))], f"gelu_halfz_{i}")
    return node("Mul", [half_z, one_plus], f"gelu_{i}")
