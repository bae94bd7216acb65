"""The student network: one description, read by training, numpy, ONNX and the file format.

A fitted student is an ordered list of layers (:class:`MLPStudent`). Each layer type is
written once, here, as a subclass of :class:`Layer` that says four things:

- its named arrays (:meth:`Layer.arrays`) and JSON config (:meth:`Layer.config`), which
  are all that pickle and ``.skd`` files store;
- its numpy forward pass (:meth:`Layer.forward`), the prediction path;
- its torch forward pass (:meth:`Layer.torch_forward`), written with the same operations,
  which the training loop and ``to_torch`` wrap in a module whose parameters are the
  layer's trainable arrays;
- its ONNX nodes (:meth:`Layer.onnx`), emitted through a small graph builder.

``LAYER_TYPES`` registers every type by name. This module imports numpy and nothing
else: torch and onnx reach a layer as arguments, so a fitted model unpickles and
predicts on a machine without either.
"""

import warnings

import numpy as np

ACTIVATIONS = ("relu", "tanh", "gelu", "silu")

#: The numeric input encodings a student can start with (``input_encoding``).
INPUT_ENCODINGS = ("standard", "piecewise_linear", "periodic")

_SQRT_2_OVER_PI = np.float32(np.sqrt(2.0 / np.pi))
_TWO_PI = np.float32(2.0 * np.pi)

LAYER_TYPES = {}


def register_layer(cls):
    """Class decorator: make a layer type known to training, predict, ONNX and files."""
    LAYER_TYPES[cls.kind] = cls
    return cls


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


class Layer:
    """One step of a student network. Subclasses are registered with :func:`register_layer`.

    A layer holds float32 arrays (named by ``array_names``) and a JSON-able config. The
    arrays listed in ``trainable`` become torch parameters during training; the others
    are fixed buffers (statistics fitted on the training rows).
    """

    kind = None
    array_names = ()
    trainable = ()

    def __init__(self, **arrays):
        for name in self.array_names:
            setattr(self, name, _f32(arrays[name]))

    # -- description --------------------------------------------------------------
    def arrays(self):
        """The named arrays that define this layer (stored in pickles and ``.skd``)."""
        return {name: getattr(self, name) for name in self.array_names}

    def config(self):
        """JSON-able settings that are not arrays."""
        return {}

    @classmethod
    def from_state(cls, config, arrays):
        """Rebuild a layer from :meth:`config` and :meth:`arrays`, without copying."""
        layer = cls.__new__(cls)
        for name in cls.array_names:
            setattr(layer, name, arrays[name])
        for key, value in config.items():
            setattr(layer, key, value)
        return layer

    @property
    def f64(self):
        """The arrays in float64 (integers as they are), cached: numpy predicts in float64,
        so that a row's output depends on the other rows of its batch only at float64's
        rounding (about 1e-16 relative: matrix products round differently with the BLAS
        block a row falls in), not at float32's (1e-7)."""
        cache = self.__dict__.get("_f64")
        if cache is None:
            cache = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v)
                     for k, v in self.arrays().items()}
            self.__dict__["_f64"] = cache
        return cache

    def with_arrays(self, arrays):
        """A copy of this layer whose named arrays are replaced (trained values)."""
        return type(self).from_state(self.config(), {**self.arrays(), **{
            k: _f32(v) for k, v in arrays.items()}})

    #: Arrays that hold integers (indices); all others are float32.
    integer_arrays = ()

    def check_dtypes(self):
        """ValueError unless every array has the dtype this layer type stores."""
        for name, a in self.arrays().items():
            kind = "i" if name in self.integer_arrays else "f"
            if not isinstance(a, np.ndarray) or a.dtype.kind != kind:
                wanted = "an integer" if kind == "i" else "a float"
                raise ValueError(f"{self.kind}.{name} must be {wanted} array, got "
                                 f"{getattr(a, 'dtype', type(a))}.")

    def check(self, n_in):
        """Output width for an input of width ``n_in``; ValueError when they do not fit."""
        return n_in

    # -- the three forward passes ------------------------------------------------
    def forward(self, h):
        """numpy forward pass on a float64 array (may work in place)."""
        raise NotImplementedError

    def torch_forward(self, torch, p, h):
        """torch forward pass; ``p`` maps array names to tensors."""
        raise NotImplementedError

    def onnx(self, g, h):
        """Emit ONNX nodes computing this layer on tensor name ``h``; return the output name."""
        raise NotImplementedError

    @property
    def n_parameters(self):
        return int(sum(a.size for a in self.arrays().values()))

    def __repr__(self):
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in self.arrays().items())
        return f"{type(self).__name__}({shapes})"


def _width_error(layer, expected, got):
    return ValueError(f"{layer.kind} layer expects input width {expected}, got {got}.")


@register_layer
class TableInput(Layer):
    """Missing values and categories in: the first layer of a student fitted on a table.

    It reads the codes of :class:`~skdistill._table.TableSchema` (numeric columns with
    NaN where missing, categorical columns as category indices, NaN where missing and -1
    when unseen) and outputs, in this order:

    - each numeric column ``numeric[i]``, a missing value replaced by ``fill[i]`` (the
      median of the training rows);
    - for each column ``indicator[i]`` (those with missing values in the training rows),
      1 where it is missing and 0 elsewhere;
    - one-hot slots: slot ``j`` is 1 where column ``onehot_column[j]`` holds code
      ``onehot_code[j]``. A missing, unseen or rare category has no slot: all zeros.
    """

    kind = "table_input"
    array_names = ("numeric", "fill", "indicator", "onehot_column", "onehot_code")
    integer_arrays = ("numeric", "indicator", "onehot_column")

    def __init__(self, **arrays):
        super().__init__(**arrays)
        for name in self.integer_arrays:
            setattr(self, name, np.ascontiguousarray(arrays[name], dtype=np.int64))

    @classmethod
    def fit(cls, codes, schema):
        """Fill values, indicators and one-hot slots from ``codes`` (the real training rows)."""
        categorical = schema.categorical_mask
        numeric = np.flatnonzero(~categorical)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice: filled below
            fill = np.nanmedian(codes[:, numeric], axis=0) if len(numeric) else np.zeros(0)
        fill = np.where(np.isfinite(fill), fill, 0.0)
        indicator = np.flatnonzero(np.isnan(codes).any(axis=0))
        slots = schema.one_hot_codes(codes)
        column = np.concatenate([np.full(len(c), j) for j, c in slots] or [np.zeros(0)])
        code = np.concatenate([c for _, c in slots] or [np.zeros(0)])
        return cls(numeric=numeric, fill=fill, indicator=indicator,
                   onehot_column=column, onehot_code=code)

    @property
    def n_expanded(self):
        """Output columns that are 0/1 flags (indicators and one-hot slots)."""
        return len(self.indicator) + len(self.onehot_column)

    def check(self, n_in):
        if self.fill.shape != self.numeric.shape or \
                self.onehot_code.shape != self.onehot_column.shape:
            raise ValueError("table_input arrays do not fit together.")
        used = np.concatenate([self.numeric, self.indicator, self.onehot_column])
        if used.size and (used.min() < 0 or used.max() >= n_in):
            raise _width_error(self, f"> {int(used.max())}", n_in)
        return len(self.numeric) + self.n_expanded

    def forward(self, h):
        a = self.f64
        num = h[:, self.numeric]
        num = np.where(np.isnan(num), a["fill"], num)
        flags = np.isnan(h[:, self.indicator]).astype(np.float64)
        one_hot = (h[:, self.onehot_column] == a["onehot_code"]).astype(np.float64)
        return np.concatenate([num, flags, one_hot], axis=1)

    def torch_forward(self, torch, p, h):
        # index_select, not h[:, index]: the same values, as in
        # PiecewiseLinear.torch_forward (where the saving is measured; not here).
        num = torch.index_select(h, 1, p["numeric"])
        num = torch.where(torch.isnan(num), p["fill"], num)
        flags = torch.isnan(torch.index_select(h, 1, p["indicator"])).to(h.dtype)
        one_hot = (torch.index_select(h, 1, p["onehot_column"]) == p["onehot_code"]).to(h.dtype)
        return torch.cat([num, flags, one_hot], dim=1)

    def onnx(self, g, h):
        parts = []
        if self.numeric.size:
            num = g.node("Gather", [h, g.const("numeric", self.numeric)], axis=1)
            parts.append(g.node("Where", [g.node("IsNaN", [num]), g.const("fill", self.fill),
                                          num]))
        if self.indicator.size:
            flags = g.node("IsNaN", [g.node("Gather", [h, g.const("indicator", self.indicator)],
                                            axis=1)])
            parts.append(g.node("Cast", [flags], to=1))  # 1: FLOAT
        if self.onehot_column.size:
            cols = g.node("Gather", [h, g.const("onehot_column", self.onehot_column)], axis=1)
            hit = g.node("Equal", [cols, g.const("onehot_code", self.onehot_code)])
            parts.append(g.node("Cast", [hit], to=1))
        return parts[0] if len(parts) == 1 else g.node("Concat", parts, axis=1)


@register_layer
class Standardize(Layer):
    """``(x - mean) * inv_scale``: centre and scale each input column."""

    kind = "standardize"
    array_names = ("mean", "inv_scale")

    def check(self, n_in):
        if self.mean.shape != (n_in,) or self.inv_scale.shape != (n_in,):
            raise _width_error(self, self.mean.shape, n_in)
        return n_in

    def forward(self, h):
        a = self.f64
        return (h - a["mean"]) * a["inv_scale"]

    def torch_forward(self, torch, p, h):
        return (h - p["mean"]) * p["inv_scale"]

    def onnx(self, g, h):
        h = g.node("Sub", [h, g.const("mean", self.mean)])
        return g.node("Mul", [h, g.const("inv_scale", self.inv_scale)])


@register_layer
class PiecewiseLinear(Layer):
    """Piecewise-linear encoding of numeric columns over quantile bins.

    Output column ``j`` reads input column ``column[j]`` and is
    ``clip((x - left[j]) * inv_width[j], lower[j], upper[j])``: 0 below its bin, 1 above
    it, linear inside. A column's first and last bins extrapolate linearly beyond the
    training range for up to one bin width (``OUTER_BIN_REACH``), then stay flat, as the
    teachers' trees do: an input far outside the range cannot push the encoded value, and
    the network, far from where it was trained. Constant and binary columns get a single
    linear bin. See Gorishniy, Rubachev and Babenko,
    "On Embeddings for Numerical Features in Tabular Deep Learning", NeurIPS 2022.
    """

    kind = "piecewise_linear"
    array_names = ("column", "left", "inv_width", "lower", "upper")
    integer_arrays = ("column",)

    def __init__(self, **arrays):
        super().__init__(**arrays)
        self.column = np.ascontiguousarray(arrays["column"], dtype=np.int64)

    @classmethod
    def fit(cls, X, n_bins):
        """Quantile bins of each column of ``X`` (the real training rows, standardized)."""
        return cls.fit_columns(np.asarray(X).T, n_bins)

    @classmethod
    def fit_columns(cls, columns, n_bins):
        """Quantile bins of each of ``columns``: 1-D arrays, one per input column, in order.

        Columns one at a time, so that a sparse matrix is never densified whole.
        """
        column, left, width, lower, upper = [], [], [], [], []
        qs = np.linspace(0.0, 1.0, n_bins + 1)
        for j, values in enumerate(columns):
            edges = _distinct_edges(np.quantile(values, qs))
            if len(edges) < 2:  # constant column: one linear bin of unit width
                edges = np.array([edges[0], edges[0] + 1.0])
            k = len(edges) - 1
            column += [j] * k
            left.append(edges[:-1])
            width.append(np.diff(edges))
            lo = np.zeros(k)
            lo[0] = -OUTER_BIN_REACH
            hi = np.ones(k)
            hi[-1] = 1.0 + OUTER_BIN_REACH
            lower.append(lo)
            upper.append(hi)
        return cls(column=np.array(column), left=np.concatenate(left),
                   inv_width=1.0 / np.concatenate(width), lower=np.concatenate(lower),
                   upper=np.concatenate(upper))

    def check(self, n_in):
        m = self.column.shape
        if any(getattr(self, n).shape != m for n in self.array_names) or len(m) != 1:
            raise ValueError("piecewise_linear arrays must all have one shape (n_outputs,).")
        if m[0] and (self.column.min() < 0 or self.column.max() >= n_in):
            raise _width_error(self, f"> {int(self.column.max())}", n_in)
        return m[0]

    def forward(self, h):
        a = self.f64
        z = (h[:, self.column] - a["left"]) * a["inv_width"]
        np.maximum(z, a["lower"], out=z)
        return np.minimum(z, a["upper"], out=z)

    def torch_forward(self, torch, p, h):
        # The training loop's hottest elementwise code: index_select and one clamp give
        # the same values as h[:, column] and a maximum then a minimum, in less time on a
        # CPU (benchmarks/results/epoch_speed.md times this together with the in-place
        # weight average, against 0.8.0's loop).
        z = (torch.index_select(h, 1, p["column"]) - p["left"]) * p["inv_width"]
        return torch.clamp(z, p["lower"], p["upper"])

    def onnx(self, g, h):
        h = g.node("Gather", [h, g.const("column", self.column)], axis=1)
        h = g.node("Mul", [g.node("Sub", [h, g.const("left", self.left)]),
                           g.const("inv_width", self.inv_width)])
        h = g.node("Max", [h, g.const("lower", self.lower)])
        return g.node("Min", [h, g.const("upper", self.upper)])


@register_layer
class Periodic(Layer):
    """Periodic embedding: ``[cos(2π f x), sin(2π f x)]`` per column, trainable ``f``.

    ``frequency`` has shape (n_features, n_frequencies); the output holds, for each input
    column, its cosines then its sines (width ``2 * n_features * n_frequencies``).
    Gorishniy, Rubachev and Babenko, NeurIPS 2022.
    """

    kind = "periodic"
    array_names = ("frequency",)
    trainable = ("frequency",)

    @classmethod
    def init(cls, n_features, n_frequencies, scale, rng):
        return cls(frequency=rng.normal(0.0, scale, size=(n_features, n_frequencies)))

    def check(self, n_in):
        if self.frequency.ndim != 2 or self.frequency.shape[0] != n_in:
            raise _width_error(self, self.frequency.shape[:1], n_in)
        return 2 * self.frequency.size

    # Reshapes name the width: -1 cannot be inferred from a batch of zero rows.
    def forward(self, h):
        z = (2.0 * np.pi * h[:, :, None]) * self.f64["frequency"]
        shape = (h.shape[0], self.frequency.size)
        return np.concatenate([np.cos(z).reshape(shape), np.sin(z).reshape(shape)], axis=1)

    def torch_forward(self, torch, p, h):
        z = (2.0 * np.pi * h[:, :, None]) * p["frequency"]
        shape = (h.shape[0], self.frequency.size)
        return torch.cat([torch.cos(z).reshape(shape), torch.sin(z).reshape(shape)], dim=1)

    def onnx(self, g, h):
        z = g.node("Unsqueeze", [h, g.const("axes", np.array([2], dtype=np.int64))])
        z = g.node("Mul", [g.node("Mul", [z, g.const("two_pi", _TWO_PI)]),
                           g.const("frequency", self.frequency)])
        shape = g.const("flat", np.array([-1, self.frequency.size], dtype=np.int64))
        cos = g.node("Reshape", [g.node("Cos", [z]), shape])
        sin = g.node("Reshape", [g.node("Sin", [z]), shape])
        return g.node("Concat", [cos, sin], axis=1)


@register_layer
class FeatureLinear(Layer):
    """A linear map per input feature: each feature's encoded columns to ``d`` numbers.

    ``index`` has shape (n_features, k): row ``f`` lists the input columns of feature
    ``f`` (its bins), padded with ``n_in`` (a column of zeros). ``weight`` has shape
    (n_features, k, d) and ``bias`` (n_features, d); the output holds each feature's ``d``
    values in turn (width ``n_features * d``). Padded weights meet only zeros, so their
    gradients are zero and they stay zero. With the piecewise-linear encoding before it and
    an activation after, each feature gets ``d`` learned nonlinear functions of its own
    before the features are mixed: the "QLR" embedding of Gorishniy, Rubachev and Babenko,
    "On Embeddings for Numerical Features in Tabular Deep Learning", NeurIPS 2022.
    """

    kind = "feature_linear"
    array_names = ("index", "weight", "bias")
    integer_arrays = ("index",)
    trainable = ("weight", "bias")

    def __init__(self, **arrays):
        super().__init__(**arrays)
        self.index = np.ascontiguousarray(arrays["index"], dtype=np.int64)

    @classmethod
    def init(cls, column, d, rng):
        """For the encoded columns of a :class:`PiecewiseLinear` layer (its ``column``
        array: the feature of each encoded column, in order), ``d`` outputs per feature;
        weights uniform in ±1/sqrt(bins of the feature), as ``torch.nn.Linear``."""
        column = np.asarray(column)
        features, counts = np.unique(column, return_counts=True)
        k, n_in = int(counts.max()), len(column)
        index = np.full((len(features), k), n_in, dtype=np.int64)
        weight = np.zeros((len(features), k, d))
        bound = 1.0 / np.sqrt(counts)
        for f, feature in enumerate(features):
            cols = np.flatnonzero(column == feature)
            index[f, :len(cols)] = cols
            weight[f, :len(cols)] = rng.uniform(-bound[f], bound[f], size=(len(cols), d))
        bias = rng.uniform(-bound[:, None], bound[:, None], size=(len(features), d))
        return cls(index=index, weight=weight, bias=bias)

    def check(self, n_in):
        f, k = self.index.shape if self.index.ndim == 2 else (-1, -1)
        if self.weight.ndim != 3 or self.weight.shape[:2] != (f, k) \
                or self.bias.shape != (f, self.weight.shape[2]):
            raise ValueError("feature_linear needs index (f, k), weight (f, k, d) and bias "
                             f"(f, d); got {self.index.shape}, {self.weight.shape}, "
                             f"{self.bias.shape}.")
        if self.index.size and (self.index.min() < 0 or self.index.max() > n_in):
            raise _width_error(self, f">= {int(self.index.max())}", n_in)
        return self.bias.size

    def forward(self, h):
        a = self.f64
        n = h.shape[0]
        padded = np.concatenate([h, np.zeros((n, 1))], axis=1)[:, self.index]
        out = np.matmul(padded.transpose(1, 0, 2), a["weight"])  # (features, n, d)
        out += a["bias"][:, None, :]
        return out.transpose(1, 0, 2).reshape(n, self.bias.size)  # a width for 0 rows

    def torch_forward(self, torch, p, h):
        n = h.shape[0]
        padded = torch.cat([h, h.new_zeros((n, 1))], dim=1)[:, p["index"]]
        out = torch.matmul(padded.transpose(0, 1), p["weight"]) + p["bias"][:, None, :]
        return out.transpose(0, 1).reshape(n, self.bias.size)

    def onnx(self, g, h):
        pads = g.const("pads", np.array([0, 0, 0, 1], dtype=np.int64))
        h = g.node("Gather", [g.node("Pad", [h, pads]), g.const("index", self.index)], axis=1)
        h = g.node("MatMul", [g.node("Transpose", [h], perm=[1, 0, 2]),
                              g.const("weight", self.weight)])
        h = g.node("Add", [h, g.const("bias", self.bias[:, None, :])])
        h = g.node("Transpose", [h], perm=[1, 0, 2])
        return g.node("Reshape", [h, g.const("flat", np.array([-1, self.bias.size],
                                                              dtype=np.int64))])


#: :meth:`MLPStudent.forward` takes a batch in blocks of rows holding at most this many
#: values of the widest layer's activations (32 MiB of float64), and never fewer than
#: ``MIN_FORWARD_BLOCK_ROWS`` rows: serving-sized batches go through in one piece.
FORWARD_BLOCK_VALUES = 2**22
MIN_FORWARD_BLOCK_ROWS = 1024

#: Up to this many rows, :class:`Linear` multiplies row by row (see its ``forward``).
FEW_ROWS = 8


@register_layer
class Linear(Layer):
    """``h @ weight + bias``; ``weight`` has shape (n_in, n_out)."""

    kind = "linear"
    array_names = ("weight", "bias")
    trainable = ("weight", "bias")

    @classmethod
    def init(cls, n_in, n_out, rng):
        # torch.nn.Linear's default initialisation (uniform in ±1/sqrt(n_in)), drawn from
        # a private numpy generator so that no global random state is involved.
        bound = 1.0 / np.sqrt(n_in)
        return cls(weight=rng.uniform(-bound, bound, size=(n_in, n_out)),
                   bias=rng.uniform(-bound, bound, size=n_out))

    def check(self, n_in):
        if self.weight.ndim != 2 or self.weight.shape[0] != n_in:
            raise _width_error(self, self.weight.shape[:1], n_in)
        if self.bias.shape != (self.weight.shape[1],):
            raise ValueError(
                f"linear bias has shape {self.bias.shape}, weight {self.weight.shape}.")
        return self.weight.shape[1]

    def forward(self, h):
        a = self.f64
        if 1 < h.shape[0] <= FEW_ROWS:
            # One matrix-vector product per row: on a handful of rows OpenBLAS's float64
            # matrix product costs more than the products one by one, which a packed
            # ensemble's single-row prediction would pay at every layer
            # (benchmarks/results/few_rows.md).
            out = np.empty((h.shape[0], a["weight"].shape[1]))
            for i, row in enumerate(h):
                np.dot(row, a["weight"], out=out[i])
            h = out
        else:
            h = h @ a["weight"]
        h += a["bias"]
        return h

    def torch_forward(self, torch, p, h):
        return torch.addmm(p["bias"], h, p["weight"])

    def onnx(self, g, h):
        h = g.node("MatMul", [h, g.const("weight", self.weight)])
        return g.node("Add", [h, g.const("bias", self.bias)])


@register_layer
class Activation(Layer):
    """An elementwise nonlinearity: relu, tanh, gelu (tanh approximation) or silu."""

    kind = "activation"

    def __init__(self, name):
        if name not in ACTIVATIONS:
            raise ValueError(f"Unknown activation {name!r}; choose from {ACTIVATIONS}.")
        self.name = name

    def config(self):
        return {"name": self.name}

    @classmethod
    def from_state(cls, config, arrays):
        return cls(config["name"])

    def forward(self, h):
        if self.name == "relu":
            return np.maximum(h, 0.0, out=h)
        if self.name == "tanh":
            return np.tanh(h, out=h)
        if self.name == "gelu":
            # The tanh approximation, as torch's GELU(approximate="tanh"), so that numpy
            # and torch agree without scipy's erf.
            return 0.5 * h * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (h + 0.044715 * h ** 3)))
        return h / (1.0 + np.exp(-h))

    def torch_forward(self, torch, p, h):
        if self.name == "relu":
            return torch.relu(h)
        if self.name == "tanh":
            return torch.tanh(h)
        if self.name == "gelu":
            return torch.nn.functional.gelu(h, approximate="tanh")
        return torch.nn.functional.silu(h)

    def onnx(self, g, h):
        if self.name == "relu":
            return g.node("Relu", [h])
        if self.name == "tanh":
            return g.node("Tanh", [h])
        if self.name == "silu":
            return g.node("Mul", [h, g.node("Sigmoid", [h])])
        # gelu as above; opset 20's Gelu would be one node, but older runtimes lack it.
        f32 = np.float32
        cube = g.node("Mul", [h, g.node("Mul", [h, h])])
        inner = g.node("Add", [h, g.node("Mul", [cube, g.const("c", f32(0.044715))])])
        t = g.node("Tanh", [g.node("Mul", [inner, g.const("k", _SQRT_2_OVER_PI)])])
        one_plus = g.node("Add", [t, g.const("one", f32(1.0))])
        return g.node("Mul", [g.node("Mul", [h, g.const("half", f32(0.5))]), one_plus])

    def __repr__(self):
        return f"Activation({self.name!r})"


@register_layer
class Members(Layer):
    """The members of a packed ensemble: each row becomes ``k`` rows, one per member.

    Row ``x`` becomes ``x * scale[0], ..., x * scale[k - 1]``, consecutive, so the layers
    after it (shared by every member) see ``k`` times the rows; :class:`MemberMean` folds
    them back into one output per row. ``scale`` (shape ``(k, width)``) starts at random
    signs and is trained: the members differ from the first step and share every other
    weight. TabM-mini: Gorishniy, Kotelnikov and Babenko, "TabM: Advancing Tabular Deep
    Learning with Parameter-Efficient Ensembling", ICLR 2025.
    """

    kind = "members"
    array_names = ("scale",)
    trainable = ("scale",)

    @classmethod
    def init(cls, n_members, width, rng):
        return cls(scale=rng.choice(np.array([-1.0, 1.0]), size=(n_members, width)))

    @property
    def n_members(self):
        return self.scale.shape[0]

    def check(self, n_in):
        if self.scale.ndim != 2 or self.scale.shape[1] != n_in:
            raise _width_error(self, self.scale.shape[1:], n_in)
        return n_in

    def forward(self, h):
        return (h[:, None, :] * self.f64["scale"]).reshape(-1, h.shape[1])

    def torch_forward(self, torch, p, h):
        return (h[:, None, :] * p["scale"]).reshape(-1, h.shape[1])

    def onnx(self, g, h):
        z = g.node("Unsqueeze", [h, g.const("axes", np.array([1], dtype=np.int64))])
        z = g.node("Mul", [z, g.const("scale", self.scale)])
        width = self.scale.shape[1]
        return g.node("Reshape", [z, g.const("rows", np.array([-1, width], dtype=np.int64))])


#: How :class:`MemberMean` combines its members' outputs.
MEMBER_COMBINES = ("probability", "value")

#: The combination each task's student uses: a classifier's members average their
#: probabilities, a regressor's their predictions.
TASK_COMBINE = {"classification": "probability", "regression": "value"}


@register_layer
class MemberMean(Layer):
    """The mean of the members' outputs: one row per input row again.

    The ``k`` consecutive rows that :class:`Members` made of one input row are combined:
    ``combine="value"`` averages them (a regressor's predictions);
    ``combine="probability"`` averages the members' probabilities and returns their log,
    ``log(mean_i softmax(z_i))``, whose softmax is that mean (a classifier's logits).
    During training the members are kept apart (:meth:`torch_members_forward`), so that each
    is fitted to the teachers on its own, as in TabM.
    """

    kind = "member_mean"

    def __init__(self, n_members, combine):
        if combine not in MEMBER_COMBINES:
            raise ValueError(f"Unknown combine {combine!r}; choose from {MEMBER_COMBINES}.")
        self.n_members = int(n_members)
        self.combine = combine

    def config(self):
        return {"n_members": self.n_members, "combine": self.combine}

    @classmethod
    def from_state(cls, config, arrays):
        return cls(config["n_members"], config["combine"])

    def forward(self, h):
        if self.combine == "value":
            return h.reshape(-1, self.n_members, h.shape[1]).mean(axis=1)
        # Each member's log-probabilities, then the log of their mean probability as a
        # log-sum-exp: finite where a probability underflows.
        z = log_softmax(h).reshape(-1, self.n_members, h.shape[1])
        top = z.max(axis=1)
        return top + np.log(np.exp(z - top[:, None, :]).mean(axis=1))

    def torch_forward(self, torch, p, h):
        z = self.torch_members_forward(torch, p, h)
        if self.combine == "value":
            return z.mean(dim=1)
        return torch.logsumexp(torch.log_softmax(z, dim=2), dim=1) - float(np.log(self.n_members))

    def torch_members_forward(self, torch, p, h):
        """The members' outputs apart, ``(n_rows, n_members, width)``: each gets its own loss."""
        return h.reshape(-1, self.n_members, h.shape[1])

    def onnx(self, g, h):
        width = g.node("Slice", [g.node("Shape", [h]), g.const("one", np.array([1])),
                                 g.const("two", np.array([2]))])
        shape = g.node("Concat", [g.const("rows", np.array([-1, self.n_members])), width],
                       axis=0)
        z = g.node("Reshape", [h, shape])
        if self.combine == "value":
            return g.reduce("ReduceMean", z, [1])
        z = g.reduce("ReduceLogSumExp", g.node("LogSoftmax", [z], axis=2), [1])
        return g.node("Sub", [z, g.const("log_k", np.float32(np.log(self.n_members)))])

    def __repr__(self):
        return f"MemberMean({self.n_members}, {self.combine!r})"


@register_layer
class Shift(Layer):
    """``h + shift``: a small correction to the constant before it.

    A regressor folds its target's mean into the last linear layer's float32 bias, which
    holds a mean of 1e9 only to within 64: on a target that varies by a few units around
    it, that error alone would be the prediction's. The rounding left over goes here, and
    the numpy forward, in float64, adds it back. In torch and ONNX, which compute in
    float32, it changes nothing the float32 output can hold.
    """

    kind = "shift"
    array_names = ("shift",)

    def check(self, n_in):
        if self.shift.shape != (n_in,):
            raise _width_error(self, (self.shift.shape[0],), n_in)
        return n_in

    def forward(self, h):
        h += self.f64["shift"]
        return h

    def torch_forward(self, torch, p, h):
        return h + p["shift"]

    def onnx(self, g, h):
        return g.node("Add", [h, g.const("shift", self.shift)])


def warn_float32_export(student, what):
    """Warn when ``student`` has a :class:`Shift` layer: exported to ``what`` (ONNX,
    torch), which computes in float32, its outputs near a large constant keep only
    float32's resolution there, which can be all of their variation (a target of
    1e9 + a few units comes out as 1e9 on every row)."""
    if not any(isinstance(layer, Shift) for layer in student.layers):
        return
    from ._warnings import warn  # sklearn-free at import: see the module docstring

    center = float(np.abs(student.linears[-1].bias).max())
    resolution = float(np.spacing(np.float32(center))) / 2
    warn(f"This regressor's predictions sit near {center:.6g}, which {what} computes in "
         f"float32 to within {resolution:.3g} only (numpy predict, in float64, keeps "
         "them): the exported model loses any variation smaller than that. Subtract a "
         "constant from y before fitting (adding it back to the predictions) to export "
         "it faithfully.")


class MLPStudent:
    """A fitted student network that predicts with numpy alone.

    An ordered list of layers, for example ``Standardize``, ``PiecewiseLinear``,
    ``Linear``, ``Activation``, ``Linear``. The last layer's output is returned raw:
    logits for a classifier, target values for a regressor; the estimators turn those
    into probabilities or predictions. The same list is what training builds in torch,
    what :func:`skdistill.to_onnx` exports and what :func:`skdistill.save` stores.

    Parameters
    ----------
    layers : list of Layer
        The network, input first. See :meth:`mlp` for a plain MLP from weights.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import MLPStudent
    >>> net = MLPStudent.mlp(np.zeros(2), np.ones(2), [np.eye(2)], [np.zeros(2)], "relu")
    >>> net.forward(np.array([[1.0, -1.0]]))
    array([[ 1., -1.]])
    >>> [layer.kind for layer in net.layers]
    ['standardize', 'linear']
    """

    def __init__(self, layers):
        self.layers = list(layers)

    @classmethod
    def mlp(cls, mean, scale, coefs, intercepts, activation="relu"):
        """A plain MLP: standardization, then affine layers with ``activation`` between."""
        layers = [Standardize(mean=mean, inv_scale=1.0 / np.asarray(scale, dtype=np.float64))]
        for i, (W, b) in enumerate(zip(coefs, intercepts)):
            if i:
                layers.append(Activation(activation))
            layers.append(Linear(weight=W, bias=b))
        return cls(layers)

    def check(self, n_features):
        """Check that the layers chain from ``n_features`` inputs; return the output width."""
        width = n_features
        for layer in self.layers:
            layer.check_dtypes()
            width = layer.check(width)
        body = list(self.layers)
        if body and isinstance(body[-1], Shift):
            body.pop()
        end = body[-1] if body else None
        if isinstance(end, MemberMean):
            body.pop()
        if not body or not isinstance(body[-1], Linear):
            raise ValueError("a student must end with a linear layer (then, for a packed "
                             "ensemble, a member_mean layer; then, optionally, a shift).")
        packed = [layer for layer in self.layers if isinstance(layer, (Members, MemberMean))]
        if packed and not (len(packed) == 2 and isinstance(packed[0], Members)
                           and packed[1] is end
                           and packed[0].n_members == packed[1].n_members >= 1):
            raise ValueError("a packed ensemble needs one members layer and, last, one "
                             "member_mean layer with the same number of members.")
        return width

    def forward(self, X):
        """Raw network output (float64) for a 2-D float array ``X``.

        The stored arrays are float32, as trained; the arithmetic is float64. A large
        batch goes through in blocks of rows, so that memory holds one block's
        activations (:data:`FORWARD_BLOCK_VALUES` values of the widest layer), not the
        whole batch's.
        """
        h = np.array(X, dtype=np.float64)  # a copy: layers may work in place
        if h.shape[0] <= MIN_FORWARD_BLOCK_ROWS:
            return self._forward(h)
        step = max(MIN_FORWARD_BLOCK_ROWS, FORWARD_BLOCK_VALUES // self._widest(h.shape[1]))
        return np.concatenate([self._forward(h[i:i + step])
                               for i in range(0, h.shape[0], step)])

    def _forward(self, h):
        for layer in self.layers:
            h = layer.forward(h)
        return h

    def _widest(self, n_features):
        """The most values an input row has between layers, for ``n_features`` inputs
        (a packed ensemble's members are rows of their own)."""
        width = widest = n_features
        rows = 1
        for layer in self.layers:
            width = layer.check(width)
            if isinstance(layer, Members):
                rows = layer.n_members
            elif isinstance(layer, MemberMean):
                rows = 1
            widest = max(widest, width * rows)
        return widest

    # -- views used by reports, the CLI and benchmarks ------------------------------
    @property
    def accepts_missing(self):
        """Whether the input may hold NaN: a student fitted on a table imputes it."""
        return bool(self.layers) and isinstance(self.layers[0], TableInput)

    @property
    def linears(self):
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    @property
    def coefs(self):
        """Weight matrices of the affine layers, ``(n_in, n_out)`` each."""
        return [layer.weight for layer in self.linears]

    @property
    def intercepts(self):
        return [layer.bias for layer in self.linears]

    @property
    def n_outputs(self):
        return self.linears[-1].weight.shape[1]

    @property
    def activation(self):
        names = {layer.name for layer in self.layers if isinstance(layer, Activation)}
        return names.pop() if len(names) == 1 else ("none" if not names else "mixed")

    @property
    def encoding(self):
        """The input encoding: ``"standard"``, ``"piecewise_linear"`` or ``"periodic"``."""
        kinds = [layer.kind for layer in self.layers]
        return next((k for k in INPUT_ENCODINGS[1:] if k in kinds), "standard")

    @property
    def n_members(self):
        """Members of a packed ensemble (:class:`Members`), 1 for a single network."""
        return next((layer.n_members for layer in self.layers if isinstance(layer, Members)), 1)

    @property
    def layer_sizes(self):
        """Widths of the affine layers, input first and output last."""
        return [self.coefs[0].shape[0]] + [c.shape[1] for c in self.coefs]

    @property
    def n_parameters(self):
        """Number of stored numbers, weights, biases and fitted encodings included."""
        return int(sum(layer.n_parameters for layer in self.layers))

    @property
    def nbytes(self):
        """Bytes held by the arrays needed to predict."""
        return int(sum(a.nbytes for layer in self.layers for a in layer.arrays().values()))

    # -- state: kinds, configs and arrays only (pickle, .skd) -----------------------------
    def to_state(self):
        """``(spec, arrays)``: a JSON-able list of layer kinds and configs, and the named
        arrays as ``{"<index>.<name>": ndarray}``."""
        spec, arrays = [], {}
        for i, layer in enumerate(self.layers):
            spec.append({"kind": layer.kind, "config": layer.config()})
            for name, value in layer.arrays().items():
                arrays[f"{i}.{name}"] = value
        return spec, arrays

    @classmethod
    def from_state(cls, spec, arrays):
        """Rebuild from :meth:`to_state`'s output; unknown layer kinds raise ValueError."""
        layers = []
        for i, entry in enumerate(spec):
            kind = entry["kind"]
            if kind not in LAYER_TYPES:
                raise ValueError(f"unknown student layer kind {kind!r}")
            layer_cls = LAYER_TYPES[kind]
            mine = {name: arrays[f"{i}.{name}"] for name in layer_cls.array_names}
            layers.append(layer_cls.from_state(dict(entry.get("config", {})), mine))
        return cls(layers)

    def __getstate__(self):
        spec, arrays = self.to_state()
        return {"spec": spec, "arrays": arrays}

    def __setstate__(self, state):
        self.layers = type(self).from_state(state["spec"], state["arrays"]).layers

    def __repr__(self):
        sizes = "-".join(str(s) for s in self.layer_sizes)
        members = f", n_members={self.n_members}" if self.n_members > 1 else ""
        return (f"MLPStudent({sizes}{members}, encoding={self.encoding!r}, "
                f"activation={self.activation!r}, n_parameters={self.n_parameters})")


#: The largest finite float32: the student trains, and exports to ONNX, in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)

#: How far the outer bins of the piecewise-linear encoding extrapolate beyond the
#: training range, in bin widths. Bounded, because an outer bin can be narrow (a column
#: whose smallest values crowd together): its slope is then steep, and an input just
#: outside the range (a synthetic row, a test row) would give an encoded value in the
#: thousands and make training diverge.
OUTER_BIN_REACH = 1.0

#: Bin edges closer than this (relative to the edge, in standardized units) are one edge:
#: float32 arithmetic cannot place an input inside so narrow a bin, and its slope
#: (the inverse width) would only amplify rounding.
EDGE_RESOLUTION = 1e-5

#: Encoded input columns at most (bins or sines and cosines over all features): bounds the
#: first layer, so the student stays small and fast on wide tables.
MAX_ENCODED_WIDTH = 1024

#: ``hidden_layer_sizes="auto"``: the first of these whose dense layers hold at most
#: :data:`AUTO_MAX_PARAMETERS` weights, else the last. A wider student follows its
#: teachers more closely (``benchmarks/results/ablation_levers_0_5.md``); the budget keeps it
#: within the 1 MB a student may weigh.
AUTO_HIDDEN_LAYER_SIZES = ((256, 256), (256, 128), (128, 64))

#: 200,000 float32 weights are 0.8 MB: room for the encoding's bins and the estimator
#: around them under 1 MB.
AUTO_MAX_PARAMETERS = 200_000


def dense_parameters(width, hidden_layer_sizes, n_outputs):
    """Weights and biases of the linear layers from ``width`` encoded inputs."""
    sizes = [width, *hidden_layer_sizes, n_outputs]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def resolve_hidden_layer_sizes(hidden_layer_sizes, width, n_outputs):
    """``hidden_layer_sizes`` as a tuple, ``"auto"`` resolved for ``width`` encoded inputs.

    Examples
    --------
    >>> resolve_hidden_layer_sizes("auto", 300, 2)
    (256, 256)
    >>> resolve_hidden_layer_sizes("auto", 640, 2)
    (256, 128)
    >>> resolve_hidden_layer_sizes("auto", 1000, 2)
    (128, 64)
    >>> resolve_hidden_layer_sizes((32,), 1000, 2)
    (32,)
    """
    if not isinstance(hidden_layer_sizes, str):
        return tuple(hidden_layer_sizes)
    for sizes in AUTO_HIDDEN_LAYER_SIZES[:-1]:
        if dense_parameters(width, sizes, n_outputs) <= AUTO_MAX_PARAMETERS:
            return sizes
    return AUTO_HIDDEN_LAYER_SIZES[-1]


def warn_over_budget(student, width):
    """Warn when an automatic student is over 1 MB: on a table wide enough (about 900
    columns, whose bins give two inputs each) that no automatic width fits."""
    if student.nbytes > STUDENT_BUDGET_BYTES:
        from ._warnings import warn  # sklearn-free at import: see the module docstring

        warn(f"The student holds {student.nbytes / 1e6:.2f} MB, over 1 MB: its "
             f"{width} encoded inputs are too many for the automatic widths. Select "
             "fewer columns first (for example SelectKBest or PCA in a Pipeline), or set "
             "hidden_layer_sizes to narrower layers.")


#: The size the automatic student keeps under (its arrays, as ``MLPStudent.nbytes``).
STUDENT_BUDGET_BYTES = 1_000_000


#: Outputs per feature of a :class:`FeatureLinear` layer (and an activation) after the
#: piecewise-linear encoding; 0 for none. With 16 the student followed its teachers less
#: closely on 5 of 7 tables (benchmarks/results/ablation_levers_0_7.md, embedding_0_7).
FEATURE_EMBEDDING = 0


def members_start(hidden_layer_sizes):
    """Index of the linear layer where a packed ensemble's members part.

    After the first hidden layer when there are two or more: the first linear layer
    reads the encoded input, the widest, and is computed once per row instead of once per
    member (the packed-ensemble ablation in ``docs/benchmarks.md``: the same fidelity
    as parting at the input, for less fit time and latency). With one hidden layer or
    none, at the input, so that the members differ in more than their output layer.

    Examples
    --------
    >>> members_start((256, 256)), members_start((64,)), members_start(())
    (1, 0, 0)
    """
    return 1 if len(hidden_layer_sizes) >= 2 else 0


def build_student(X, n_outputs, hidden_layer_sizes, *, activation="relu",
                  input_encoding="standard", n_bins=16, n_frequencies=8,
                  frequency_scale=0.5, table=None, n_members=1, combine="probability",
                  random_state=0):
    """The untrained student for inputs like ``X`` (the real training rows).

    With a ``table`` (a :class:`~skdistill._table.TableSchema`), ``X`` holds its codes
    and the student starts with a :class:`TableInput` layer fitted on them; the numeric
    encoding then reads that layer's output. Standardization statistics and quantile bins
    are fitted on ``X`` (an array or a scipy sparse matrix); weights and frequencies are
    drawn from ``np.random.default_rng(random_state)``. ``hidden_layer_sizes="auto"``
    picks the widths by the encoded width (:func:`resolve_hidden_layer_sizes`). With
    ``n_members > 1`` the network is a packed ensemble: a :class:`Members` layer where
    :func:`members_start` says, and a :class:`MemberMean` layer last, whose ``combine``
    is ``"probability"`` for a classifier and ``"value"`` for a regressor.
    """
    rng = np.random.default_rng(random_state)
    layers = []
    names = None
    if table is not None:
        first = TableInput.fit(np.asarray(X, dtype=np.float64), table)
        layers.append(first)
        X = first.forward(np.asarray(X, dtype=np.float64))
        names = [table.names[i] for i in first.numeric]  # its first outputs; flags after
    mean, scale, standardized_columns = _encoding_statistics(X, names)
    layers.append(Standardize(mean=mean, inv_scale=1.0 / scale))
    d = len(mean)
    if input_encoding == "piecewise_linear":
        # The bin budget counts every input column, the 0/1 flags of a table's one-hot
        # slots too (which then get one bin each): the student of a raw table gets the
        # bins it would get behind a one-hot Pipeline. Giving the numeric columns the
        # flags' unused share instead cost accuracy on adult (docs/benchmarks.md, raw
        # tables section).
        bins = max(2, min(n_bins, MAX_ENCODED_WIDTH // max(d, 1)))
        layers.append(PiecewiseLinear.fit_columns(standardized_columns(), bins))
        if FEATURE_EMBEDDING:
            layers += [FeatureLinear.init(layers[-1].column, FEATURE_EMBEDDING, rng),
                       Activation(activation)]
    elif input_encoding == "periodic":
        k = max(1, min(n_frequencies, MAX_ENCODED_WIDTH // max(2 * d, 1)))
        layers.append(Periodic.init(d, k, frequency_scale, rng))
    width = len(table) if table is not None else d
    for layer in layers:
        width = layer.check(width)
    encoded = width
    hidden = resolve_hidden_layer_sizes(hidden_layer_sizes, width, n_outputs)
    sizes = [*hidden, n_outputs]
    for i, h in enumerate(sizes):
        if n_members > 1 and i == members_start(hidden):
            layers.append(Members.init(n_members, width, rng))
        layers.append(Linear.init(width, h, rng))
        if i < len(hidden):
            layers.append(Activation(activation))
        width = h
    if n_members > 1:
        layers.append(MemberMean(n_members, combine))
    student = MLPStudent(layers)
    if isinstance(hidden_layer_sizes, str) and n_members == 1:
        warn_over_budget(student, encoded)
    return student


def _distinct_edges(quantiles):
    """Sorted bin edges from ``quantiles``, dropping any within ``EDGE_RESOLUTION`` of
    the one before it (quantile interpolation can yield edges 1e-10 apart)."""
    edges = np.unique(quantiles)
    wide_enough = np.diff(edges) > EDGE_RESOLUTION * np.maximum(1.0, np.abs(edges[1:]))
    return edges[np.concatenate([[True], wide_enough])]


def _encoding_statistics(X, names=None):
    """``(mean, scale, standardized_columns)`` of the rows ``X`` the encoding is fitted on.

    ``names`` names the first columns of ``X`` in warnings (else their positions).

    ``standardized_columns()`` yields each column of ``(X - mean) / scale``. A sparse
    ``X`` is read a few columns at a time (``_sparse.column_statistics``), with results
    equal bit for bit to the dense computation, so a sparse fit and a dense fit of the
    same rows start from the same student.
    """
    if hasattr(X, "tocsc"):  # a scipy sparse matrix; scipy is imported only then
        from ._sparse import column_statistics
        from ._sparse import standardized_columns as sparse_columns

        mean, scale = column_statistics(X)
        _warn_coarse_columns(mean, scale, names)
        scale[~(scale > 1e-12)] = 1.0
        return mean, scale, lambda: sparse_columns(X, mean, scale)
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    _warn_coarse_columns(mean, scale, names)
    scale[~(scale > 1e-12)] = 1.0
    return mean, scale, lambda: ((X - mean) / scale).T


#: A column whose float32 rounding at its mean exceeds this share of its spread gets a
#: warning: the student trains on float32 inputs, which cannot tell its values apart.
COARSE_COLUMN = 0.01


def _warn_coarse_columns(mean, std, names=None):
    """Warn about columns that vary little against their size (1e9 plus or minus a few)."""
    step = np.abs(mean) * np.finfo(np.float32).eps  # float32's spacing near the mean
    coarse = np.flatnonzero((std > 1e-12) & (step > COARSE_COLUMN * std))
    if coarse.size:
        from ._warnings import warn  # sklearn-free at import: see the module docstring

        # A table's flags (0/1) come after its numeric columns: never coarse, never named.
        labels = [names[j] if names is not None and j < len(names) else int(j)
                  for j in coarse]
        warn(f"Columns {labels[:10]} vary little against their size (for example "
             f"mean {mean[coarse[0]]:.6g}, standard deviation {std[coarse[0]]:.3g}): "
             "float32, in which the student trains, cannot tell their values apart. "
             "Subtract a constant from them first (for example the column's median).")


def check_float32_range(X, what="X"):
    """Refuse finite values that float32 cannot hold: they would become inf, then NaN."""
    # A comparison, not a max: a missing value (NaN) is not out of range.
    if X.dtype == np.float64 and X.size and (np.abs(X) > FLOAT32_MAX).any():
        columns = np.flatnonzero((np.abs(X) > FLOAT32_MAX).any(axis=0))
        raise ValueError(
            f"{what} has values beyond float32's range (|x| > {FLOAT32_MAX:.3g}) in columns "
            f"{columns[:10].tolist()}. The student computes in float32: rescale those columns "
            "(for example with a log transform or a StandardScaler in a Pipeline)."
        )


#: The fix a NaN at predict is told, for a model that could learn to impute.
IMPUTE_OR_REFIT = ("impute them first, or fit on data with missing values (the student then "
                   "learns to handle them)")


def check_finite_input(X, accepts_missing, what="X", missing_fix=IMPUTE_OR_REFIT):
    """Refuse infinity always, and NaN unless the model imputes, naming columns and fix.

    ``missing_fix`` ends the NaN message: what the caller can do about it.

    Examples
    --------
    >>> check_finite_input(np.array([[1.0, np.nan]]), accepts_missing=True)
    >>> check_finite_input(np.array([[1.0, np.inf]]), accepts_missing=True)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Input X contains infinity in columns [1]. Replace it with a finite value, ...
    """
    values = X.data if hasattr(X, "tocsr") else X  # sparse: absent entries are zeros
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return
    columns = _nonfinite_columns(X, np.isinf)
    if columns:
        fix = ", or with NaN where the value is missing" if accepts_missing else ""
        raise ValueError(f"Input {what} contains infinity in columns {columns[:10]}. "
                         f"Replace it with a finite value{fix}.")
    if not accepts_missing:
        raise ValueError(
            f"Input {what} contains NaN (missing values) in columns "
            f"{_nonfinite_columns(X, np.isnan)[:10]}. This model was fitted without missing "
            f"values, so it has nothing to fill them with: {missing_fix}."
        )


def _nonfinite_columns(X, test):
    if hasattr(X, "tocoo"):
        coo = X.tocoo()
        return np.unique(coo.col[test(coo.data)]).tolist()
    return np.flatnonzero(test(X).any(axis=0)).tolist()


def student_output(student, X, checked=False):
    """``student.forward(X)``, refusing non-finite inputs and outputs.

    No NaN or inf ever leaves a prediction: NaN, inf, a value too large for float32 (the
    arithmetic of training and of the ONNX graph), or one that overflows inside the
    network raises a ValueError. ``checked``: X has passed :func:`check_finite_input` and
    :func:`check_float32_range` already (the estimators' validation), so they are not
    run twice.
    """
    if not checked:
        check_finite_input(X, student.accepts_missing)
        check_float32_range(X, "X")
    with np.errstate(over="ignore", invalid="ignore"):
        out = student.forward(X)
    if not np.isfinite(out).all():
        rows = np.flatnonzero(~np.isfinite(out).all(axis=1))
        raise ValueError(
            f"The student's output is not finite for {len(rows)} row(s) (first: "
            f"{rows[:5].tolist()}): their values are too extreme for float32 arithmetic. "
            "Check those rows for values far outside the training range."
        )
    return out


def nonfinite_arrays(student):
    """Names (``kind.array``) of the student's arrays that hold NaN or inf."""
    return [f"{layer.kind}.{name}" for layer in student.layers
            for name, a in layer.arrays().items() if not np.isfinite(a).all()]


def check_student_finite(student, X_sample):
    """Raise when a fitted student holds non-finite numbers or outputs them on training rows."""
    bad = nonfinite_arrays(student)
    if bad:
        raise ValueError(
            f"The fitted student holds non-finite values in {bad}: the inputs or the target "
            "are too large for float32 arithmetic. Rescale them (for example standardize the "
            "columns or the target) and fit again."
        )
    student_output(student, X_sample)


def log_softmax(logits):
    """Row-wise log-softmax in float64, without the underflow of ``log(softmax(z))``."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits):
    """Row-wise softmax in float64, rows summing to 1."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
