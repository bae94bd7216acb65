"""skl2onnx converters: a whole Pipeline, preprocessing and student, as one ONNX graph.

:func:`register_skl2onnx` registers a converter for each distiller with skl2onnx's own
registry (``skl2onnx.update_registered_converter``), the way skl2onnx documents custom
converters. ``skl2onnx.to_onnx(pipeline, X_sample)`` then converts the preprocessing
steps with skl2onnx's converters and the distiller with the ones below.

The converters do not write the network a second time: they run the same
``student_graph`` that :func:`skdistill.to_onnx` runs (each layer's ``Layer.onnx``),
through :class:`ContainerGraphBuilder`, a ``GraphBuilder`` that emits into skl2onnx's
container under names that skl2onnx's scope makes unique. Only the output head (softmax
and labels, or the regression column) is written here.

skl2onnx is imported only when :func:`register_skl2onnx` is called.
"""

import numpy as np

from ._onnx import GraphBuilder, finite_or_fail, student_graph
from ._student import warn_float32_export

#: The oldest target opset the student's nodes are valid in (Unsqueeze with an axes input).
MIN_OPSET = 13

_ALIASES = {"DistilledClassifier": "SkdistillDistilledClassifier",
            "DistilledRegressor": "SkdistillDistilledRegressor"}


def _import_skl2onnx():
    try:
        import skl2onnx
    except ImportError:
        raise ImportError(
            "Converting a Pipeline with skl2onnx needs the skl2onnx package. Install it "
            "with `pip install skdistill[onnx]` (or `pip install skl2onnx`)."
        ) from None
    return skl2onnx


class ContainerGraphBuilder(GraphBuilder):
    """A ``GraphBuilder`` that adds its nodes and initializers to a skl2onnx container.

    Names come from the skl2onnx scope (``get_unique_variable_name`` and
    ``get_unique_operator_name``), so they cannot collide with the preprocessing
    steps' names in the same graph.
    """

    def __init__(self, scope, container):
        from onnx import numpy_helper

        # No target opset means skl2onnx's newest, which reads reduction axes as inputs.
        super().__init__(numpy_helper, None, opset=container.target_opset or 18)
        self._onnx_scope = scope
        self._container = container

    def _unique(self, base):
        return self._onnx_scope.get_unique_variable_name(f"skd_{self._scope}{base}"
                                                         .replace("/", "_"))

    def const(self, name, array):
        unique = self._unique(name)
        array = np.asarray(array)
        if array.dtype.kind in "OUS":
            # skl2onnx copies a TensorProto's raw_data only, which strings do not use.
            from onnx import TensorProto

            values = [str(v).encode("utf-8") for v in array.ravel()]
            self._container.add_initializer(unique, TensorProto.STRING, list(array.shape),
                                            values)
            return unique
        tensor = self._numpy_helper.from_array(array, name=unique)
        self._container.add_initializer(unique, tensor.data_type, list(array.shape), tensor)
        return unique

    def node(self, op, inputs, output=None, name=None, **attrs):
        output = output or self._unique(op.lower())
        self._container.add_node(op, list(inputs), [output],
                                 name=self._onnx_scope.get_unique_operator_name(
                                     name or f"skd_{op}"),
                                 **attrs)
        return output


def _refuse_categorical_table(model):
    table = getattr(model, "table_", None)
    if table is not None and table.categorical_mask.any():
        raise RuntimeError(
            f"{type(model).__name__} was fitted on a table with categorical columns, whose "
            "codes skl2onnx cannot produce. Export it with skdistill.to_onnx, which reads "
            "the codes (model.table_.encode(X)), or encode the categories in the Pipeline "
            "before the distiller."
        )


def _student_logits(scope, operator, container):
    """Emit the student on the operator's input (cast to float32); return (builder, name)."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import FloatTensorType

    if container.target_opset is not None and container.target_opset < MIN_OPSET:
        raise RuntimeError(
            f"skdistill's converters need target_opset >= {MIN_OPSET}; got "
            f"{container.target_opset}."
        )
    model = operator.raw_operator
    _refuse_categorical_table(model)
    g = ContainerGraphBuilder(scope, container)
    x = operator.inputs[0].full_name
    if not isinstance(operator.inputs[0].type, FloatTensorType):
        # The student computes in float32, as training did.
        x = g.node("Cast", [x], to=TensorProto.FLOAT)
    # As in to_onnx: the graph fails rather than pass on NaN or inf (an imputer before
    # the student usually removes NaN; what is left is a bad input).
    x = finite_or_fail(g, x, "check_finite_input", allow_nan=model.student_.accepts_missing)
    warn_float32_export(model.student_, "ONNX")
    return g, finite_or_fail(g, student_graph(g, model.student_, x), "check_finite_output")


def _to_output(g, name, variable):
    """Write float32 tensor ``name`` to the operator output, cast to its declared type."""
    from onnx import TensorProto
    from skl2onnx.common.data_types import DoubleTensorType

    if isinstance(variable.type, DoubleTensorType):
        g.node("Cast", [name], output=variable.full_name, to=TensorProto.DOUBLE)
    else:
        g.node("Identity", [name], output=variable.full_name)


def _class_constant(g, classes):
    classes = np.asarray(classes)
    if classes.dtype.kind in "iub" or (classes.dtype.kind == "f"
                                       and np.array_equal(classes, np.round(classes))):
        # Integral float labels (1.0, 2.0) become int64, as skl2onnx declares them.
        return g.const("classes", classes.astype(np.int64))
    if classes.dtype.kind in "OUS" and all(isinstance(c, (str, np.str_)) for c in classes):
        return g.const("classes", classes.astype(object))
    raise NotImplementedError(
        f"skl2onnx conversion supports integer or string class labels; classes_ has dtype "
        f"{classes.dtype}. Encode the labels as integers or strings, or use "
        "skdistill.to_onnx, whose label output is an index into classes_."
    )


def convert_distilled_classifier(scope, operator, container):
    """skl2onnx converter: outputs ``label`` (class labels) and ``probabilities``."""
    g, logits = _student_logits(scope, operator, container)
    label, proba = operator.outputs[0], operator.outputs[1]
    _to_output(g, g.node("Softmax", [logits], axis=1), proba)
    index = g.node("ArgMax", [logits], axis=1, keepdims=0)
    model = operator.raw_operator
    # nocl=True asks for class indices instead of labels, as for skl2onnx's classifiers.
    nocl = scope.get_options(model, {"nocl": False})["nocl"]
    classes = _class_constant(g, np.arange(len(model.classes_)) if nocl else model.classes_)
    g.node("Gather", [classes, index], output=label.full_name, axis=0)


def convert_distilled_regressor(scope, operator, container):
    """skl2onnx converter: outputs ``variable``, shape ``(n_samples, 1)`` as skl2onnx's
    regressors do (``predict`` returns a 1-D array)."""
    g, out = _student_logits(scope, operator, container)
    _to_output(g, out, operator.outputs[0])


def register_skl2onnx():
    """Register skdistill's estimators with skl2onnx, so that whole Pipelines convert.

    After this call, ``skl2onnx.to_onnx(pipeline, X_sample)`` (or ``convert_sklearn``)
    converts a fitted Pipeline whose last step is a :class:`DistilledClassifier` or
    :class:`DistilledRegressor` into one ONNX graph: skl2onnx's converters for the
    preprocessing (``ColumnTransformer``, ``OneHotEncoder``, ``StandardScaler``,
    ``SimpleImputer``, ...) and skdistill's for the student, which emits the same nodes
    as :func:`to_onnx`. Calling it again is harmless.

    The outputs follow skl2onnx's conventions for scikit-learn models:

    - classifier: ``label`` (the class labels themselves, int64 or string, as
      ``predict`` returns them) and ``probabilities`` (columns in the order of
      ``classes_``). By default skl2onnx wraps the probabilities in a ZipMap (a list of
      ``{class: probability}`` dicts); pass ``options={id(model): {"zipmap": False}}``
      (or ``{DistilledClassifier: {"zipmap": False}}``) for a float tensor of shape
      ``(n_samples, n_classes)``. ``"zipmap": "columns"`` gives one output per class,
      and ``"nocl": True`` gives class indices instead of labels.
    - regressor: ``variable``, float, of shape ``(n_samples, 1)``; ``predict`` returns
      the same numbers as a 1-D array.

    The student computes in float32 (a double input is cast); its outputs are cast to
    double when skl2onnx declares them so. Needs ``target_opset >= 13``.

    Returns
    -------
    None

    Raises
    ------
    ImportError
        When skl2onnx is not installed: ``pip install skdistill[onnx]``.

    See Also
    --------
    to_onnx : The student alone, without skl2onnx.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skl2onnx import to_onnx as skl2onnx_to_onnx
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skdistill import DistilledClassifier, register_skl2onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X.astype(np.float32)
    >>> pipe = make_pipeline(StandardScaler(), DistilledClassifier(
    ...     teachers=[("lr", LogisticRegression())], max_epochs=5, random_state=0)).fit(X, y)
    >>> register_skl2onnx()
    >>> proto = skl2onnx_to_onnx(pipe, X[:1], options={"zipmap": False})
    >>> session = ort.InferenceSession(proto.SerializeToString(),
    ...                                providers=["CPUExecutionProvider"])
    >>> label, proba = session.run(None, {"X": X})
    >>> bool(np.abs(proba - pipe.predict_proba(X)).max() < 1e-5)
    True
    >>> bool((label == pipe.predict(X)).all())
    True
    """
    skl2onnx = _import_skl2onnx()
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    from ._classifier import DistilledClassifier
    from ._regressor import DistilledRegressor

    def checked(calculate_shapes):
        # skl2onnx calculates shapes before it converts: refuse a categorical table here,
        # or its own count of inputs (one per DataFrame column) speaks first.
        def calculate(operator):
            _refuse_categorical_table(operator.raw_operator)
            calculate_shapes(operator)
        return calculate

    # Declaring "zipmap" makes skl2onnx parse the model as a classifier: it then adds
    # the ZipMap (or not) itself, as for its own classifiers.
    skl2onnx.update_registered_converter(
        DistilledClassifier, _ALIASES["DistilledClassifier"],
        checked(calculate_linear_classifier_output_shapes), convert_distilled_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [False, True],
                 "output_class_labels": [False, True]},
    )
    skl2onnx.update_registered_converter(
        DistilledRegressor, _ALIASES["DistilledRegressor"],
        checked(calculate_linear_regressor_output_shapes), convert_distilled_regressor,
    )
