"""The student description: every registered layer type computes the same function in
numpy, torch and onnxruntime, and stores its arrays exactly."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdistill import DistilledClassifier, DistilledRegressor, load, save
from skdistill._student import (
    ACTIVATIONS,
    INPUT_ENCODINGS,
    LAYER_TYPES,
    Activation,
    FeatureLinear,
    Linear,
    MemberMean,
    Members,
    MLPStudent,
    Periodic,
    PiecewiseLinear,
    Shift,
    Standardize,
    TableInput,
    build_student,
    softmax,
)
from skdistill._training import TorchLayer, numpy_student, torch_student

N_IN = 6
RNG = np.random.default_rng(0)
X = (RNG.normal(size=(300, N_IN)) * np.array([1, 10, 0.1, 5, 1, 100])
     + np.array([0, 3, 0, -2, 1, 50]))


def _fitted_ple():
    # Includes a binary and a constant column: fewer bins than asked for.
    data = np.column_stack([X[:, :4], (X[:, 4] > 1).astype(float), np.ones(len(X))])
    return PiecewiseLinear.fit(data, 8)


def _table_input():
    # Columns 0, 1, 3 and 4 numeric; 2 and 5 categorical codes, one-hot on three codes.
    return TableInput(numeric=[0, 1, 3, 4], fill=RNG.normal(size=4), indicator=[0, 2, 5],
                      onehot_column=[2, 2, 5], onehot_code=[0.0, 1.0, 2.0])


#: One random instance per registered layer type (and each activation); a new layer type
#: fails ``test_every_layer_type_is_covered`` until it gets one here.
FACTORIES = {
    "standardize": lambda: Standardize(mean=RNG.normal(size=N_IN),
                                       inv_scale=RNG.uniform(0.1, 2, size=N_IN)),
    "piecewise_linear": _fitted_ple,
    "periodic": lambda: Periodic.init(N_IN, 3, 0.5, RNG),
    "linear": lambda: Linear.init(N_IN, 5, RNG),
    # Three features of 2, 3 and 1 input columns (padded to 3), 4 outputs each.
    "feature_linear": lambda: FeatureLinear.init([0, 0, 1, 1, 1, 2], 4, RNG),
    "table_input": _table_input,
    # Trained scales, not the initial signs: every member computes something else.
    "members": lambda: Members(scale=RNG.normal(size=(3, N_IN))),
    "shift": lambda: Shift(shift=RNG.normal(size=N_IN)),
    # Three members of six outputs each: 300 input rows fold into 100.
    **{f"member_mean:{c}": (lambda c=c: MemberMean(3, c)) for c in ("probability", "value")},
    **{f"activation:{name}": (lambda name=name: Activation(name)) for name in ACTIVATIONS},
}


def test_every_layer_type_is_covered():
    kinds = {key.split(":")[0] for key in FACTORIES}
    assert kinds == set(LAYER_TYPES)


def _onnx_run(layer, inputs):
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from skdistill._onnx import OPSET, GraphBuilder

    g = GraphBuilder(numpy_helper, helper)
    out = layer.onnx(g, "X")
    g.node("Identity", [out], output="Y")
    graph = helper.make_graph(
        g.nodes, "layer", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", N_IN])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
        initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": inputs.astype(np.float32)})[0]


@pytest.mark.parametrize("key", sorted(FACTORIES))
def test_numpy_torch_onnx_agree(key):
    layer = FACTORIES[key]()
    inputs = np.asarray(X, dtype=np.float32) / 10  # keep periodic arguments moderate
    expected = layer.forward(inputs.astype(np.float64))
    with torch.no_grad():
        got_torch = TorchLayer(layer)(torch.from_numpy(inputs)).numpy()
    got_onnx = _onnx_run(layer, inputs)
    scale = max(1.0, np.abs(expected).max())
    assert got_torch.shape == expected.shape == got_onnx.shape
    assert np.abs(got_torch - expected).max() <= 1e-5 * scale
    assert np.abs(got_onnx - expected).max() <= 1e-5 * scale


@pytest.mark.parametrize("key", sorted(FACTORIES))
def test_every_layer_takes_a_batch_of_zero_rows(key):
    # A serving endpoint may forward an empty batch; a width of -1 cannot be inferred.
    layer = FACTORIES[key]()
    width = layer.forward(np.asarray(X[:3], dtype=np.float64) / 10).shape[1]
    empty = np.zeros((0, N_IN), dtype=np.float32)
    assert layer.forward(empty.astype(np.float64)).shape == (0, width)
    with torch.no_grad():
        assert tuple(TorchLayer(layer)(torch.from_numpy(empty)).shape) == (0, width)
    assert _onnx_run(layer, empty).shape == (0, width)


def test_table_input_agrees_on_missing_values_and_codes():
    """The generic inputs hold no NaN and no codes; these do, in every role."""
    layer = _table_input()
    inputs = np.asarray(X[:50] / 10, dtype=np.float32)
    inputs[:, 2] = RNG.integers(-1, 3, 50)  # -1: an unseen category
    inputs[:, 5] = RNG.integers(0, 4, 50)
    inputs[RNG.random(inputs.shape) < 0.2] = np.nan
    expected = layer.forward(inputs.astype(np.float64))
    assert np.isfinite(expected).all() and expected[:, 7:].sum() > 0
    with torch.no_grad():
        got_torch = TorchLayer(layer)(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(got_torch, expected, atol=1e-6)
    np.testing.assert_allclose(_onnx_run(layer, inputs), expected, atol=1e-6)


@pytest.mark.parametrize("key", sorted(FACTORIES))
def test_state_round_trip_is_exact(key):
    layer = FACTORIES[key]()
    rebuilt = type(layer).from_state(layer.config(), layer.arrays())
    for name, value in layer.arrays().items():
        assert rebuilt.arrays()[name].dtype == value.dtype
        np.testing.assert_array_equal(rebuilt.arrays()[name], value)
    inputs = X[:21] / 10  # whole groups of three rows: a member_mean folds them into one
    np.testing.assert_array_equal(rebuilt.forward(inputs.copy()), layer.forward(inputs.copy()))


def test_torch_module_round_trip_keeps_the_function():
    student = build_student(X, 3, (8,), input_encoding="periodic", random_state=0)
    back = numpy_student(torch_student(student))
    np.testing.assert_array_equal(back.forward(X), student.forward(X))


def test_piecewise_linear_encoding_shape_and_values():
    layer = PiecewiseLinear.fit(np.array([[0.0], [1.0], [2.0], [3.0], [4.0]]), 4)
    out = layer.forward(np.array([[-0.5], [-7.0], [0.5], [2.0], [4.5], [9.0]]))
    # Four bins of width 1: below the range the first bin extrapolates (negative) for
    # one bin width, then stays flat; inside, bins below are full and bins above empty;
    # above, the last bin extrapolates for one width, then stays flat.
    np.testing.assert_allclose(out, [[-0.5, 0, 0, 0], [-1, 0, 0, 0], [0.5, 0, 0, 0],
                                     [1, 1, 0, 0], [1, 1, 1, 1.5], [1, 1, 1, 2]])


def test_piecewise_linear_merges_edges_float32_cannot_tell_apart():
    # Quantile interpolation can put two edges 1e-10 apart; a bin that narrow (an
    # inverse width of 1e10) would turn a synthetic row just below the smallest value
    # into an encoded value in the billions, and training would diverge.
    column = np.concatenate([[0.0] * 3, [1e-10] * 3, np.linspace(1.0, 2.0, 94)])
    layer = PiecewiseLinear.fit(column[:, None], 64)
    assert np.max(layer.inv_width) < 1e4
    out = layer.forward(np.array([[-1.0], [-1e6], [1e6]]))
    assert np.abs(out).max() <= 2.0


def test_encoded_width_is_capped_on_wide_tables():
    wide = RNG.normal(size=(200, 300))
    student = build_student(wide, 2, (16,), input_encoding="piecewise_linear", n_bins=16)
    assert student.layers[1].column.shape[0] <= 1024
    student = build_student(wide, 2, (16,), input_encoding="periodic", n_frequencies=8)
    assert student.check(300) == 2 and student.layers[2].weight.shape[0] <= 1024


@pytest.mark.parametrize("n_columns, expected", [
    (1, (256, 256)), (4, (256, 256)), (8, (256, 256)),  # 64 to 512 encoded inputs
    (10, (256, 128)),                                   # 640
    (16, (128, 64)), (40, (128, 64)),                   # 1,024 and 1,000
])
def test_auto_width_is_the_widest_student_within_the_size_budget(n_columns, expected):
    # "auto" takes the first rung whose dense layers fit AUTO_MAX_PARAMETERS: narrow
    # encodings get the widest student, wide ones fall back to (128, 64). Whatever it
    # picks, the pickled estimator stays under 1 MB.
    import pickle

    from skdistill._student import (
        AUTO_HIDDEN_LAYER_SIZES,
        AUTO_MAX_PARAMETERS,
        dense_parameters,
    )

    X = RNG.normal(size=(3000, n_columns))
    y = (X[:, 0] > 0).astype(int)
    model = DistilledClassifier(
        teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression()))], cv=2,
        hidden_layer_sizes="auto", max_epochs=1, augmentation=None, random_state=0).fit(X, y)
    width, *hidden, n_out = model.student_.layer_sizes
    fits = [s for s in AUTO_HIDDEN_LAYER_SIZES[:-1]
            if dense_parameters(width, s, n_out) <= AUTO_MAX_PARAMETERS]
    assert tuple(hidden) == expected == (fits[0] if fits else AUTO_HIDDEN_LAYER_SIZES[-1])
    assert model.get_params()["hidden_layer_sizes"] == "auto"  # the parameter is kept
    assert len(pickle.dumps(model)) < 1_000_000


def test_auto_width_ladder_ends_at_the_widest_encodings():
    # The last rung must fit the widest encoding the student allows, or "auto" could
    # pass 1 MB on a wide table.
    from skdistill._student import (
        AUTO_HIDDEN_LAYER_SIZES,
        AUTO_MAX_PARAMETERS,
        MAX_ENCODED_WIDTH,
        dense_parameters,
    )

    assert (dense_parameters(MAX_ENCODED_WIDTH, AUTO_HIDDEN_LAYER_SIZES[-1], 10)
            <= AUTO_MAX_PARAMETERS)


def test_a_table_too_wide_for_1_mb_warns():
    # Two bins a column at least: past ~900 columns even (128, 64) passes 1 MB.
    wide = RNG.normal(size=(100, 950))
    with pytest.warns(UserWarning, match="over 1 MB: its 1900 encoded inputs.*fewer columns"):
        student = build_student(wide, 2, "auto", input_encoding="piecewise_linear",
                                n_bins=64)
    assert student.nbytes > 1_000_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_student(wide[:, :890], 2, "auto", input_encoding="piecewise_linear",
                             n_bins=64).nbytes < 1_000_000
    # Whatever the encoding: "standard" reads one input a column.
    with pytest.warns(UserWarning, match="over 1 MB: its 1950 encoded inputs"):
        build_student(RNG.normal(size=(100, 1950)), 2, "auto", input_encoding="standard")


def test_student_refuses_layers_that_do_not_chain():
    bad = MLPStudent([Standardize(mean=np.zeros(3), inv_scale=np.ones(3)),
                      Linear(weight=np.zeros((4, 2)), bias=np.zeros(2))])
    with pytest.raises(ValueError, match="expects input width"):
        bad.check(3)


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(return_X_y=True)


@pytest.mark.parametrize("encoding,n_members",
                         [(e, 1) for e in INPUT_ENCODINGS] + [("piecewise_linear", 3)])
@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_every_encoding_through_every_consumer(cancer, encoding, n_members, estimator,
                                               tmp_path):
    """Training, numpy predict, ONNX and .skd all read the same layers."""
    X_c, y_c = cancer
    if estimator == "classifier":
        model = DistilledClassifier(
            teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression()))], cv=2,
            max_epochs=4, input_encoding=encoding, n_members=n_members, dropout=0.1,
            random_state=0).fit(X_c, y_c)
        output = model.predict_proba
    else:
        from sklearn.linear_model import Ridge

        model = DistilledRegressor(teachers=[("ridge", Ridge())], cv=2, max_epochs=4,
                                   input_encoding=encoding, n_members=n_members,
                                   random_state=0).fit(X_c, X_c[:, 0])
        output = model.predict
    assert model.student_.encoding == encoding
    assert model.student_.n_members == n_members
    _same_in_every_consumer(model, output, X_c, tmp_path)


def _same_in_every_consumer(model, output, X_c, tmp_path):
    """numpy predict, a .skd round trip and the ONNX graph give the same outputs."""
    ort = pytest.importorskip("onnxruntime")
    from skdistill import to_onnx

    expected = output(X_c)
    again = load(save(model, tmp_path / "m.skd"))
    np.testing.assert_array_equal(again.predict(X_c), model.predict(X_c))
    np.testing.assert_array_equal(output.__func__(again, X_c), expected)
    session = ort.InferenceSession(to_onnx(model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    got = session.run(None, {"X": X_c.astype(np.float32)})[0]
    tol = 1e-5 * max(1.0, np.abs(expected).max())
    assert np.abs(got - expected).max() <= tol


def test_feature_embedding_trains_and_reaches_every_consumer(cancer, monkeypatch, tmp_path):
    """``FEATURE_EMBEDDING`` (an ablation's lever, off by default) puts a per-feature
    linear map and an activation after the piecewise-linear encoding; the fitted
    student learns the table and exports like any other."""
    import skdistill._student as student_module

    monkeypatch.setattr(student_module, "FEATURE_EMBEDDING", 4)
    X_c, y_c = cancer
    model = DistilledClassifier(
        teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression()))], cv=2,
        max_epochs=30, input_encoding="piecewise_linear", random_state=0).fit(X_c, y_c)
    kinds = [layer.kind for layer in model.student_.layers]
    assert kinds[1:4] == ["piecewise_linear", "feature_linear", "activation"]
    assert model.student_.layer_sizes[0] == 4 * X_c.shape[1]
    assert (model.predict(X_c) == y_c).mean() > 0.95
    _same_in_every_consumer(model, model.predict_proba, X_c, tmp_path)


def _packed(n_members=3, combine="probability", n_outputs=4):
    return build_student(X, n_outputs, (8,), input_encoding="piecewise_linear", n_bins=4,
                         n_members=n_members, combine=combine, random_state=0)


@pytest.mark.parametrize("n_members", [1, 3])
def test_a_large_batch_goes_through_in_blocks_of_bounded_memory(n_members, monkeypatch):
    import tracemalloc

    from skdistill import _student

    student = build_student(X, 4, (256, 128), input_encoding="piecewise_linear", n_bins=16,
                            n_members=n_members, combine="probability", random_state=0)
    rows = np.random.default_rng(1).normal(size=(20_000, N_IN))
    whole = student._forward(rows.copy())  # in one piece
    widest = student._widest(N_IN)
    assert widest == 256 * n_members
    monkeypatch.setattr(_student, "FORWARD_BLOCK_VALUES", 2**18)  # 2 MiB activations
    tracemalloc.start()
    blocked = student.forward(rows)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(blocked, whole, rtol=1e-12, atol=1e-12)
    # The input's copy, the output and a few of one block's activations: far less than
    # the 41 MB (123 MB packed) of one piece's widest activation alone.
    assert peak < 2 * rows.nbytes + 8 * 8 * 2**18
    assert peak < 8 * len(rows) * widest / 4
    # Blocks of a few rows give the same outputs.
    monkeypatch.setattr(_student, "MIN_FORWARD_BLOCK_ROWS", 4)
    monkeypatch.setattr(_student, "FORWARD_BLOCK_VALUES", 64)
    np.testing.assert_allclose(student.forward(rows[:37]), whole[:37], rtol=1e-12, atol=1e-12)


def test_packed_ensemble_is_the_mean_of_its_members():
    """Each member is the shared network on the input scaled by its own row of signs;
    the student's probabilities are the mean of the members' probabilities."""
    student = _packed()
    members = student.layers[2]
    assert isinstance(members, Members) and set(np.unique(members.scale)) == {-1.0, 1.0}
    one = []
    for scale in members.scale:
        alone = MLPStudent(student.layers[:2] + [Linear(weight=np.diag(scale), bias=np.zeros(
            len(scale)))] + student.layers[3:-1])
        one.append(softmax(alone.forward(X)))
    np.testing.assert_allclose(softmax(student.forward(X)), np.mean(one, axis=0), atol=1e-12)
    regressor = _packed(combine="value")
    outputs = [MLPStudent(regressor.layers[:2] + [Linear(weight=np.diag(s), bias=np.zeros(
        len(s)))] + regressor.layers[3:-1]).forward(X) for s in regressor.layers[2].scale]
    np.testing.assert_allclose(regressor.forward(X), np.mean(outputs, axis=0), atol=1e-12)


def test_packed_members_are_apart_only_inside_the_training_loop():
    """The loop's module hands each member's output to the loss; ``to_torch``'s module,
    in training mode too, outputs the combination a user's own loss expects."""
    student = _packed()
    inputs = torch.from_numpy(X[:10].astype(np.float32))
    apart = torch_student(student, members_apart=True)
    assert apart.train()(inputs).shape == (10, 3, 4)
    assert apart.eval()(inputs).shape == (10, 4)
    assert torch_student(student).train()(inputs).shape == (10, 4)


def test_packed_members_learn_apart(cancer):
    X_c, y_c = cancer
    model = DistilledClassifier(
        teachers=[("lr", make_pipeline(StandardScaler(), LogisticRegression()))], cv=2,
        max_epochs=5, n_members=4, random_state=0).fit(X_c, y_c)
    kinds = [layer.kind for layer in model.student_.layers]
    # Two hidden layers: the members part after the first, which reads the wide encoding.
    assert kinds[2:5] == ["linear", "activation", "members"] and kinds.count("linear") == 3
    scale = model.student_.layers[4].scale
    assert scale.shape[0] == 4 and len(np.unique(scale.round(3), axis=0)) == 4
    assert not np.isin(scale, [-1.0, 1.0]).all()  # trained, not left at their signs
    assert model.score(X_c, y_c) > 0.9


@pytest.mark.parametrize("layers,message", [
    (lambda s: s.layers[:-1], "member_mean"),  # members without their mean
    (lambda s: s.layers[:2] + s.layers[3:], "member_mean"),  # a mean without members
    (lambda s: s.layers[:-1] + [MemberMean(2, "probability")], "same number"),
    # A file could hold zero members; nothing would be left to average.
    (lambda s: [Members(scale=layer.scale[:0]) if isinstance(layer, Members)
                else MemberMean(0, "probability") if isinstance(layer, MemberMean)
                else layer for layer in s.layers], "same number"),
])
def test_student_refuses_a_packed_ensemble_that_does_not_fold_back(layers, message):
    with pytest.raises(ValueError, match=message):
        MLPStudent(layers(_packed())).check(N_IN)


@pytest.mark.parametrize("n_members", [1, 3])
def test_a_rows_output_does_not_depend_on_its_batch(n_members):
    """One row, a few rows (multiplied row by row) and many rows (one matrix product)
    give each row the same output."""
    student = build_student(X, 3, (16, 8), input_encoding="piecewise_linear", n_bins=8,
                            n_members=n_members, random_state=1)
    whole = student.forward(X[:40])
    alone = np.vstack([student.forward(X[i:i + 1]) for i in range(40)])
    few = np.vstack([student.forward(X[i:i + 2]) for i in range(0, 40, 2)])
    np.testing.assert_allclose(alone, whole, rtol=0, atol=1e-12)
    np.testing.assert_allclose(few, whole, rtol=0, atol=1e-12)


@pytest.mark.parametrize("hidden", [(), (8,), (8, 4)])
def test_members_part_after_the_first_hidden_layer_if_there_are_two(hidden):
    student = build_student(X, 2, hidden, n_members=3, combine="value", random_state=0)
    kinds = [layer.kind for layer in student.layers]
    at = kinds.index("members")
    assert kinds[at + 1] == "linear" and kinds[at - 1] != "linear"
    assert kinds[:at].count("linear") == (1 if len(hidden) >= 2 else 0)
    assert kinds[-1] == "member_mean" and student.check(N_IN) == 2
    assert student.forward(X).shape == (len(X), 2)


def test_an_empty_student_is_refused_clearly():
    with pytest.raises(ValueError, match="must end with a linear layer"):
        MLPStudent([]).check(N_IN)
