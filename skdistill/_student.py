"""The trained student network as plain numpy arrays.

This module is the whole prediction path: it imports numpy and nothing else, so a
fitted model unpickles and predicts on a machine without torch. Training lives in
``_training.py`` and hands its weights over as float32 arrays.
"""

import numpy as np

ACTIVATIONS = ("relu", "tanh", "gelu", "silu")

_SQRT_2_OVER_PI = np.float32(np.sqrt(2.0 / np.pi))


def _gelu(z):
    # The tanh approximation, which is what the trainer uses
    # (torch.nn.GELU(approximate="tanh")), so numpy and torch agree without scipy.erf.
    return 0.5 * z * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + np.float32(0.044715) * z * z * z)))


def _silu(z):
    return z / (1.0 + np.exp(-z))


def _apply_activation(name, z):
    if name == "relu":
        return np.maximum(z, 0.0, out=z)
    if name == "tanh":
        return np.tanh(z, out=z)
    if name == "gelu":
        return _gelu(z)
    return _silu(z)


class MLPStudent:
    """A fitted multilayer perceptron that predicts with numpy alone.

    The network standardizes its input with the stored ``mean`` and ``scale``,
    then applies ``len(coefs)`` affine layers with ``activation`` between them.
    The last layer's output is returned raw: logits for a classifier, standardized
    values for a regressor. The estimators turn those into probabilities or targets.

    Parameters
    ----------
    mean, scale : ndarray of shape (n_features,)
        Input standardization: ``(X - mean) / scale``.
    coefs : list of ndarray
        Weight matrices, ``coefs[i]`` of shape (n_in, n_out), float32.
    intercepts : list of ndarray
        Bias vectors, ``intercepts[i]`` of shape (n_out,), float32.
    activation : {"relu", "tanh", "gelu", "silu"}
        Hidden-layer nonlinearity.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import MLPStudent
    >>> net = MLPStudent(np.zeros(2), np.ones(2), [np.eye(2, dtype=np.float32)],
    ...                  [np.zeros(2, dtype=np.float32)], "relu")
    >>> net.forward(np.array([[1.0, -1.0]]))
    array([[ 1., -1.]], dtype=float32)
    """

    def __init__(self, mean, scale, coefs, intercepts, activation):
        self.mean = np.ascontiguousarray(mean, dtype=np.float32)
        # Multiplying by a stored reciprocal is cheaper than dividing per call.
        self.inv_scale = np.ascontiguousarray(1.0 / np.asarray(scale, dtype=np.float64),
                                              dtype=np.float32)
        self.coefs = [np.ascontiguousarray(c, dtype=np.float32) for c in coefs]
        self.intercepts = [np.ascontiguousarray(b, dtype=np.float32) for b in intercepts]
        self.activation = activation

    @property
    def scale(self):
        """The input scale (standard deviation), as stored at fit time."""
        return (1.0 / self.inv_scale.astype(np.float64)).astype(np.float32)

    @property
    def layer_sizes(self):
        """Sizes of every layer, input first and output last."""
        return [self.coefs[0].shape[0]] + [c.shape[1] for c in self.coefs]

    @property
    def n_parameters(self):
        """Number of weights and biases."""
        return int(sum(c.size + b.size for c, b in zip(self.coefs, self.intercepts)))

    @property
    def nbytes(self):
        """Bytes held by the arrays needed to predict."""
        arrays = [self.mean, self.inv_scale, *self.coefs, *self.intercepts]
        return int(sum(a.nbytes for a in arrays))

    def forward(self, X):
        """Raw network output (float32) for a 2-D float array ``X``."""
        h = (np.asarray(X, dtype=np.float32) - self.mean) * self.inv_scale
        last = len(self.coefs) - 1
        for i, (W, b) in enumerate(zip(self.coefs, self.intercepts)):
            h = h @ W
            h += b
            if i < last:
                h = _apply_activation(self.activation, h)
        return h

    # Pickle only the arrays and the activation name: no torch objects, no caches.
    def __getstate__(self):
        return {
            "mean": self.mean,
            "inv_scale": self.inv_scale,
            "coefs": self.coefs,
            "intercepts": self.intercepts,
            "activation": self.activation,
        }

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        sizes = "-".join(str(s) for s in self.layer_sizes)
        return f"MLPStudent({sizes}, activation={self.activation!r}, n_parameters={self.n_parameters})"


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
