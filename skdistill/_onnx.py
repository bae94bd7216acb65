"""Export the student as one ONNX graph: its layers, then the output head.

Each layer type writes its own ONNX nodes (``Layer.onnx`` in ``_student.py``), next to
its numpy and torch forward passes; this module only assembles them into a graph with
the ``onnx`` helper API and adds the classifier's softmax or the regressor's squeeze.
"""

import json

import numpy as np

from ._student import warn_float32_export

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
    - regressor: ``predictions`` (float32, ``(n_samples,)``), as ``predict`` returns
      them. ``DistilledRegressor`` fits a single target; for several, export one model
      per target.

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
    warn_float32_export(student, "ONNX")
    n_features = model.n_features_in_
    n_out = student.n_outputs
    g = GraphBuilder(numpy_helper, helper)
    # A student fitted on a table imputes NaN in the graph; infinity is refused either way.
    checked = finite_or_fail(g, input_name, "check_finite_input",
                             allow_nan=student.accepts_missing)
    h = finite_or_fail(g, student_graph(g, student, checked), "check_finite_output")
    if task == "classification":
        outputs = [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_out]),
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
        ]
        g.node("Softmax", [h], axis=1, output="probabilities")
        g.node("ArgMax", [h], axis=1, keepdims=0, output="label")
    else:
        # The regressor has one target and predict returns a 1-D array; so does the graph.
        g.node("Squeeze", [h, g.const("squeeze_axes", np.array([1], dtype=np.int64))],
               output="predictions")
        outputs = [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, ["N"])]

    graph = helper.make_graph(
        g.nodes, f"skdistill_{type(model).__name__}",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", n_features])],
        outputs, initializer=g.initializers,
        doc_string=doc_string or "skdistill student: input encoding, MLP, output head",
    )
    proto = helper.make_model(
        graph, producer_name="skdistill", producer_version=__version__,
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    # IR version 8 is what opset 17 shipped with; older runtimes refuse newer IRs.
    proto.ir_version = 8
    meta = _model_props(model, student, task, n_features)
    meta.update(metadata or {})
    helper.set_model_props(proto, {str(k): str(v) for k, v in meta.items()})
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save_model(proto, str(path))
    return proto


def _model_props(model, student, task, n_features):
    """The graph's metadata entries: what the model is and what its input means."""
    meta = {"task": task, "estimator": type(model).__name__, "activation": student.activation,
            "input_encoding": student.encoding, "n_features": str(n_features)}
    if task == "classification":
        classes = np.asarray(model.classes_)
        if classes.dtype.kind in "Mm":
            # Dates as ISO text ("2021-01-01"), durations as counts of their unit, and the
            # dtype alongside ("<M8[D]"): np.array(json.loads(meta["classes"]),
            # dtype=meta["classes_dtype"]) rebuilds them.
            values = ([str(c) for c in classes] if classes.dtype.kind == "M"
                      else classes.view(np.int64).tolist())
            meta["classes"] = json.dumps(values)
            meta["classes_dtype"] = classes.dtype.str
        else:
            meta["classes"] = json.dumps(classes.tolist())
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        meta["feature_names"] = json.dumps([str(n) for n in names])
    table = getattr(model, "table_", None)
    if table is not None:
        # Encoded-input mode: the graph reads the table's codes, and this entry says how
        # to make them (see table_codes and the user guide's page on raw tables).
        meta["table"] = json.dumps(table.to_dict())
    return meta


class GraphBuilder:
    """Collects ONNX nodes and initializers under unique names.

    Each student layer emits its nodes through :meth:`node` and :meth:`const`
    (``Layer.onnx`` in ``_student.py``), so the layer math is written once per layer type.
    """

    def __init__(self, numpy_helper, helper, prefix="", opset=OPSET):
        self._numpy_helper = numpy_helper
        self._helper = helper
        self.prefix = prefix
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self._scope = ""
        self._count = 0

    def _name(self, base):
        self._count += 1
        return f"{self.prefix}{self._scope}{base}_{self._count}"

    def const(self, name, array):
        """Add a constant tensor; returns its (unique) name."""
        unique = self._name(name)
        self.initializers.append(self._numpy_helper.from_array(np.asarray(array), name=unique))
        return unique

    def node(self, op, inputs, output=None, name=None, **attrs):
        """Add one node with one output; returns the output's name."""
        output = output or self._name(op.lower())
        self.nodes.append(self._helper.make_node(op, inputs, [output],
                                                 name=name or self._name(f"{op}_node"), **attrs))
        return output

    def reduce(self, op, h, axes, keepdims=0):
        """A ``Reduce*`` node over ``axes``: an attribute up to opset 17, an input from 18."""
        if self.opset >= 18:
            return self.node(op, [h, self.const("axes", np.array(axes, dtype=np.int64))],
                             keepdims=keepdims)
        return self.node(op, [h], axes=list(axes), keepdims=keepdims)

    def scope(self, name):
        self._scope = f"{name}/"


def finite_or_fail(g, h, name, allow_nan=False):
    """Make the graph fail, instead of passing on NaN or inf, when ``h`` is not finite.

    ONNX has no assert operator. Here a Gather reads index 0 of a one-element constant
    when every value of ``h`` is finite, and an index past its end otherwise: the runtime
    then stops with an error that names the node (``name``). The gathered zero is added
    to ``h``, so the check cannot be pruned away. The student checks its input (NaN,
    inf) and its output (an overflow inside the network), as ``predict`` does; with
    ``allow_nan``, NaN (a missing value the student imputes) passes.
    """
    g.scope(name)
    bad = g.node("IsInf", [h])
    if not allow_nan:
        bad = g.node("Or", [g.node("IsNaN", [h]), bad])
    # A sum, not a max: it is 0 for zero rows, where ReduceMax gives INT64_MIN.
    count = g.node("ReduceSum", [g.node("Cast", [bad], to=7)], keepdims=0)  # 7: INT64
    index = g.node("Reshape", [count, g.const("one_dim", np.array([1], dtype=np.int64))])
    zero = g.node("Gather", [g.const("zero", np.zeros(1, dtype=np.float32)), index], axis=0,
                  name=name)
    return g.node("Add", [h, zero])


def student_graph(g, student, input_name):
    """Emit the student's layers into ``g``, reading ``input_name``; returns the output name."""
    h = input_name
    for i, layer in enumerate(student.layers):
        g.scope(f"{i}_{layer.kind}")
        h = layer.onnx(g, h)
    g.scope("head")
    return h
