"""DistilledClassifier: the scikit-learn face of classification distillation."""

from numbers import Real

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from ._base import _BaseDistiller
from ._compat import Interval, StrOptions, _fit_context
from ._student import log_softmax, softmax
from ._teachers import default_teachers


class DistilledClassifier(ClassifierMixin, _BaseDistiller):
    """Distill a teacher ensemble into a small, fast MLP classifier.

    ``fit`` trains the teacher ensemble, labels every training row with the
    ensemble's averaged class probabilities (the soft targets), and trains a compact
    PyTorch MLP student to match them with a temperature-scaled distillation loss.
    ``predict`` and ``predict_proba`` use only the student, as plain numpy: a fitted
    model predicts, pickles and loads without torch.

    Parameters
    ----------
    teachers : list of (str, estimator) or None, default=None
        The teacher ensemble. ``None`` uses :func:`default_teachers` (random forest,
        extra trees, XGBoost, LightGBM and an MLP). Any classifier with
        ``predict_proba`` works. Teachers are cloned, never changed. To distill a model
        you have already fitted, wrap it in :class:`sklearn.frozen.FrozenEstimator`: it is
        then used as it is, and it labels the training rows in-sample (it is never
        refitted, so it cannot be cross-fitted). Nested parameters such as
        ``teachers__rf__n_estimators`` work in ``set_params`` and ``GridSearchCV``.
    teacher_weights : array-like of shape (n_teachers,) or None, default=None
        Weights of the teachers' probability average. ``None`` weighs them equally.
    soft_targets : {"oof", "in_sample", "oob"}, default="oof"
        How the teachers label the training rows.

        - ``"oof"``: out-of-fold. Each row is labelled by teachers fitted on the other
          ``cv`` folds, so no row's soft target comes from a model that saw it. This
          avoids the near-one-hot in-sample probabilities of forests, which carry
          little of the ensemble's knowledge about uncertain rows.
        - ``"in_sample"``: teachers fitted once on all rows label the same rows.
          Fastest; weaker targets for models that memorize (forests).
        - ``"oob"``: bagged forests use their out-of-bag estimate (one fit each);
          other teachers are cross-fitted as in ``"oof"``.
    cv : int, cross-validation splitter, list of (train, test) index pairs or "auto", \
            default="auto"
        Folds for ``"oof"`` soft targets. An int gives shuffled stratified folds.
        ``"auto"`` is 5 folds, or fewer (down to 2) on tables large enough that
        ``max_teacher_rows`` caps every fold's fit anyway: the fewest folds whose
        training part still holds ``max_teacher_rows`` rows, so each fold's teachers
        are as strong as with 5 folds and the teacher phase makes half the fits
        (with the default cap, 2 folds from 400,000 rows); and never more folds than
        the largest class has rows (at least 2). ``fit_info_["teacher_folds"]``
        records the number used; ``benchmarks/results/scale.md`` compares it with 5
        folds. A splitter's test folds must cover every training row; a repeated
        splitter (``RepeatedStratifiedKFold``) gives each row the mean of its
        out-of-fold outputs, at one teacher fit per fold and repeat.
    max_teacher_rows : int, "auto" or None, default="auto"
        Fit each teacher (each fold, and the refit) on at most this many of its
        training rows, drawn at random; every row is still labelled out-of-fold. This
        bounds the teacher phase's time and memory on large tables: the cost of the
        soft targets then grows with the number of rows labelled, not fitted.
        ``"auto"`` is 200,000, which 5-fold cross-fitting reaches only above 250,000
        training rows, so smaller fits are unchanged; ``python -m benchmarks.scale
        --phases memory`` measures the default fit's time and memory at 1,000,000 rows.
        ``None`` fits on all rows. Out-of-bag teachers (``soft_targets="oob"``) always
        use all rows.
    temperature : float, default=1.0
        Softening temperature T > 0 for the distillation term. At 1 the student matches
        the teachers' probabilities as they are, which keeps their decision boundary
        sharp; higher values weigh the small probabilities more.
    alpha : float, default=0.8
        Weight of the distillation term, in [0, 1]. The loss is
        ``alpha * T**2 * KL(teacher_T || student_T) + (1 - alpha) * CE(y, student)``.
        ``alpha=0`` trains the same network on the labels alone. Temperature 1, alpha 0.8
        and 30 epochs of patience replaced 2, 0.5 and 10 in 0.4: the student agrees with
        its teachers more often at the same average accuracy, for about three times the
        student's fit time (``benchmarks/results/ablation_stopping.md`` and ``full.md``).
    hidden_layer_sizes : tuple of int or "auto", default="auto"
        Widths of the student's hidden layers. ``"auto"`` takes the widest of (256, 256),
        (256, 128) and (128, 64) whose linear layers hold at most 200,000 weights for the
        encoded input (0.8 MB in float32), so the student stays under 1 MB: (256, 256)
        up to about 520 encoded inputs (8 continuous columns at 64 bins; binary and
        low-cardinality columns take fewer), (256, 128) up to about 650, (128, 64)
        beyond. Beyond about 1,790 encoded inputs (895 columns) even (128, 64) is over
        1 MB: it is used, and fit warns (with one member, ``n_members=1``), suggesting
        fewer columns or narrower layers. A wider student follows a
        tree ensemble more closely, for about twice the student's fit time; ``(128, 64)``
        is the smaller, faster student of 0.5 (``benchmarks/results/ablation_levers_0_5.md``).
    activation : {"relu", "tanh", "gelu", "silu"}, default="silu"
        The hidden layers' nonlinearity. SiLU, ``x * sigmoid(x)`` (Elfwing, Uchibe and
        Doya 2018; Hendrycks and Gimpel's GELU is its close kin), bends smoothly where
        ReLU, 0.7's default, bends at zero. With it the student followed its teachers
        more closely on 11 of 15 tables of a two-seed ablation
        (``benchmarks/results/ablation_levers_0_7.md``) and the full suite's median
        fidelity rose from 96.68% to 97.07% (``full_3seeds.md``), at the same cost per
        epoch.
    dropout : float, default=0.0
        Dropout rate after each hidden layer, in [0, 1).
    batch_size : int, default=256
        Rows per optimizer step. Batches of 512 at a step size of 6e-3 cut the
        student's fit time by a third but cost 0.6 points of accuracy on the quick suite
        (``benchmarks/results/ablation_training.md``).
    learning_rate : float, default=3e-3
        AdamW step size. Halved when the monitored loss stops improving.
    weight_decay : float, default=1e-4
        AdamW weight decay.
    max_epochs : int, default=200
    epoch_rows : int or None, default=250_000
        At most this many rows of the transfer set per epoch, drawn at random afresh
        every epoch. On a large table an epoch, and with it the patience of early
        stopping and of the plateau schedule, is then a bounded amount of work, as in
        the dask estimators, whose epochs have the same default size. With the default
        augmentation it binds only above about 170,000 training rows. None: no cap; an
        epoch still holds at most six rows per real training row (as many as the real
        rows plus five synthetic rows each), drawn at random from the whole transfer set.
    student_time_limit : float or None, default=None
        Seconds the student's training may take. After each epoch, training stops if
        one more epoch, at the pace of those so far, would end past the limit; at least
        one epoch runs, and the best (averaged) weights so far are kept, as with early
        stopping. The default schedule suits a limit: within 4, 8 and 16 s it followed
        the teachers more closely than ``lr_schedule="cosine"`` on 10 to 13 of the 15
        benchmark tables (``benchmarks/results/time_limit_schedule.md``). With
        ``"cosine"`` the schedule anneals over the epochs that the first epoch's
        duration says will fit (at most ``max_epochs``), so the step size reaches zero
        in time. A shorter fit follows the teachers less closely (the FAQ's "Why is
        ``fit`` slow?" gives the measured price). The teachers' fits are not limited.
        With a limit, the number of epochs depends on the machine's speed and load, so
        two fits with the same ``random_state`` can differ; None keeps fits
        reproducible. ``fit_info_["stopped_by"]`` says whether the limit ended training.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the labelled rows, score them with the true
        labels (cross-entropy) after every epoch, stop after ``n_iter_no_change`` epochs
        without improvement, and restore the best weights. When False, training stops
        when the training loss stalls for ``n_iter_no_change`` epochs.
    validation_fraction : float, default=0.1
        Share of each class held out for early stopping, and one row of a class too rare
        for its share (two rows or more), as long as the held-out rows stay within twice
        the fraction: many tiny classes do not take half the training rows.
    n_iter_no_change : int, default=30
        Epochs without improvement before training stops; the plateau schedule halves
        the step size after half as many. The held-out label loss stops improving long
        before the student has learned the teachers' function between the real rows, so
        a short patience leaves it under-trained for fidelity
        (``benchmarks/results/underfit.md``); 10 is the faster choice.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss that counts as an improvement for early
        stopping and for the plateau schedule.
    validation_target : {"labels", "teachers"}, default="labels"
        What the held-out rows are scored against for early stopping: ``"labels"``, the
        true labels; ``"teachers"``, the teachers' out-of-fold outputs on those rows, so
        that training stops where the student follows its teachers best.
    lr_schedule : {"plateau", "cosine"}, default="plateau"
        ``"plateau"`` halves the learning rate when the monitored loss stalls;
        ``"cosine"`` anneals it to zero over ``max_epochs``.
    weight_averaging : {"ema", "none"}, default="ema"
        ``"ema"`` keeps an exponential moving average of the student's weights, its
        horizon about the last ninth of the steps so far, and validates, stops on and
        returns that average instead of the last step's weights: a student trained once
        carries the noise of its last mini-batches, and the average smooths it away at no
        cost in size or predict time (Polyak and Juditsky 1992; Izmailov et al. 2018,
        "Averaging Weights Leads to Wider Optima"). ``"none"`` keeps the last (or best)
        step's weights.
    input_encoding : {"standard", "piecewise_linear", "periodic"}, default="piecewise_linear"
        How each numeric column enters the network, after standardization.
        ``"standard"``: as it is. ``"piecewise_linear"``: one column per quantile bin of
        the training rows, 0 below the bin, 1 above it and linear inside, which lets a
        small network draw the sharp, axis-aligned steps of a tree ensemble.
        ``"periodic"``: sines and cosines of trainable frequencies. Both are from
        Gorishniy, Rubachev and Babenko (NeurIPS 2022). The encoding is a layer of the
        student, so numpy predict, ONNX and saved files include it.
    n_bins : int, default=64
        Quantile bins per column for ``"piecewise_linear"`` (fewer on wide tables, so
        that the encoded width stays at most 1,024, but at least 2: above 512 columns
        the width is twice the columns; fewer where a column has fewer distinct
        values). More bins place the teachers' steps more exactly: 64 instead
        of 16 raised fidelity on 10 of 15 tables for about 1.35 times the student's
        fit time (``benchmarks/results/ablation_bins.md``).
    n_frequencies : int, default=8
        Frequencies per column for ``"periodic"`` (capped the same way).
    n_members : int, default=1
        Members of the student's packed ensemble (TabM-mini: Gorishniy, Kotelnikov and
        Babenko, ICLR 2025). With ``k > 1`` every row passes through the student ``k``
        times: after the first hidden layer (at the input if there is only one) it is
        scaled by each member's own trained vector (random signs at first), then goes
        through layers all members share; each member is trained on the teachers'
        targets alone, and the student predicts the mean of their probabilities (of their
        predictions for a regressor). The mean of several students follows the teachers
        more closely than one; the members share their weights, so the student barely
        grows, but the layers after the first compute ``k`` times as much. On the 15
        benchmark tables (``benchmarks/results/ablation_members_0_6.md``) 4 members
        raised mean fidelity from 96.69% to 96.95% (up on 12 tables, down on 3) at
        unchanged accuracy, for 2.6 times the student's fit time and twice its
        single-row latency, about ``LogisticRegression``'s; 2 members gained nothing. 1,
        a single network, stays the default for its speed.
    augmentation : {None, "munge", "auto"}, default="auto"
        Extend the transfer set with synthetic rows made by :func:`munge` and labelled
        by the teachers (Bucilua et al., 2006), so that the student learns the teachers'
        function between the real rows too. ``"auto"`` does so at every table size,
        within the budget ``augment_factor`` x rows, capped by ``max_augment_rows``;
        the rows are labelled in chunks, and each epoch trains on a fresh random subset of
        the transfer set (as many rows as five synthetic rows per real row would give),
        so an epoch costs what it would with a small transfer set. Measured in
        ``benchmarks/results/ablation_student.md`` and
        ``benchmarks/results/transfer_size.md``. ``None`` trains on the real rows only.
    augment_factor : float, default=40.0
        Synthetic rows per real training row (the budget). More rows cost the teachers'
        labelling, not the epochs (each epoch draws the same number of rows): 40 rather
        than 20 raised mean fidelity on the 15 benchmark tables from 96.68% to 97.02%
        (up on 11, down on 3) for a few seconds of labelling
        (``benchmarks/results/ablation_synthetic_0_6.md``).
    munge_p : float, default=0.5
        MUNGE's per-attribute swap probability.
    munge_s : float, default=1.0
        MUNGE's local-variance divisor. With ``munge_p=0.5`` and ``munge_s=1`` the
        synthetic rows spread further from the real ones than with MUNGE's original
        (0.2, 10), which covers more of the region the student is later asked about:
        fidelity rose in the ablation (``benchmarks/results/ablation_student.md``).
    max_augment_rows : int, default=100_000
        Cap on the number of synthetic rows, which bounds memory and time.
    categorical_features : array-like of int, bool or str, or None, default=None
        Columns MUNGE treats as categorical (swapped, never perturbed): indices, a
        boolean mask, or names when X is a DataFrame.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, as in scikit-learn's classifiers: ``{label: weight}``
        (labels missing from the dict weigh 1), or ``"balanced"``, which weighs each
        class by ``n_samples / (n_classes * count)``. It is turned into per-row weights
        (:func:`sklearn.utils.class_weight.compute_sample_weight`) and multiplied into
        ``sample_weight`` before anything is fitted, so it reaches exactly what
        ``sample_weight`` reaches: every teacher whose ``fit`` accepts ``sample_weight``
        (the others are fitted unweighted, with a warning), the student's loss and the
        teacher cache's key. A teacher's own ``class_weight`` setting, if any, applies
        on top.
    memory : str, joblib.Memory or None, default=None
        Cache the fitted teachers and their soft targets, keyed by the teachers, the
        soft-target settings and the exact data and sample weights, and the teachers'
        labels of the synthetic and unlabeled rows, keyed by those rows too. With a
        cache, a grid search over student settings (``teacher_weights`` included: each
        teacher's outputs are cached, and weighed after) fits the teachers and labels
        the synthetic rows once per training split. Needs an int
        ``random_state``: otherwise seeds and folds change on every fit. Use only a
        folder you trust: joblib.Memory unpickles what it finds there, so a file planted
        in the cache folder runs code during ``fit``.
    keep_teachers : bool, default=False
        Keep the fitted teachers on the model as ``teachers_``. They are usually far
        larger than the student, so they are dropped by default.
    n_jobs : int or None, default=None
        Teacher and fold fits run in parallel through joblib. ``None`` means 1 unless in
        a :func:`joblib.parallel_backend` context; -1 uses all processors.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the student trains. The fitted weights always end up on the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds default teachers, folds, the validation split, augmentation and the
        student. The global numpy and torch random states are never touched.
    verbose : int, default=0
        Progress for teacher fits (per teacher and fold) and student epochs: tqdm bars in
        terminals and notebooks, otherwise a few INFO records of the ``"skdistill"`` logger
        (on stderr unless logging is configured); 2 logs every epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, in the order of ``predict_proba``'s columns.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X had string column names.
    student_ : MLPStudent
        The trained network as numpy float32 arrays, input standardization included.
    history_ : list of dict
        Per-epoch ``train_loss``, ``valid_loss``, ``valid_accuracy`` and ``learning_rate``.
    n_iter_ : int
        Epochs run.
    fit_info_ : dict
        Timings of the teacher and student phases, the number of folds an integer or
        ``"auto"`` ``cv`` stood for (``teacher_folds``; None for a splitter or
        ``soft_targets="in_sample"``; with ``"oob"``, the folds that the teachers without
        an out-of-bag estimate use, if there are any), row
        counts, the best epoch, what ended the student's training (``stopped_by``:
        ``"max_epochs"``, ``"early_stopping"`` or ``"time_limit"``) and the training
        device.
    teachers_ : list of estimators
        Fitted teachers, only with ``keep_teachers=True``. Each was fitted on encoded
        labels: ``0..k-1`` for the ``k`` classes its training rows held, in the order
        of ``classes_`` (all of them unless ``max_teacher_rows`` sampled a class away),
        so its own ``predict`` and ``score`` do not speak ``classes_``; a prefit teacher
        is as given, on its own labels. :meth:`teacher_predict_proba` aligns them all to
        ``classes_``. With ``memory``, a cache hit gives back copies of the teachers,
        the prefit ones included.
    named_teachers_ : dict
        The same, by name.
    teacher_weights_ : ndarray of shape (n_teachers,) or None
        The validated ``teacher_weights`` the soft targets were averaged with (None for
        equal weights). ``teacher_predict_*`` use these, not the live parameter.

    See Also
    --------
    DistilledRegressor : The same distillation for regression.
    default_teachers : The default teacher ensemble.

    Notes
    -----
    Teachers provide probabilities, not logits. The softened teacher distribution is
    ``softmax(log(clip(p, 1e-6)) / T)``: ``log p`` equals the logits up to a per-row
    constant that softmax cancels, and the clip keeps a forest's exact zeros finite.

    References
    ----------
    .. [1] G. Hinton, O. Vinyals and J. Dean, "Distilling the Knowledge in a Neural
       Network", 2015.
    .. [2] C. Bucilua, R. Caruana and A. Niculescu-Mizil, "Model Compression", KDD 2006.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import train_test_split
    >>> from skdistill import DistilledClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> model = DistilledClassifier(
    ...     teachers=[("rf", RandomForestClassifier(n_estimators=50, random_state=0)),
    ...               ("lr", LogisticRegression(max_iter=5000))],
    ...     random_state=0,
    ... ).fit(X_train, y_train)
    >>> model.predict_proba(X_test[:2]).shape
    (2, 2)
    >>> bool(model.score(X_test, y_test) > 0.9)
    True
    """

    _task = "classification"

    _parameter_constraints = {
        **_BaseDistiller._parameter_constraints,
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [StrOptions({"balanced"}), dict, None],
    }

    def __init__(
        self,
        *,
        teachers=None,
        teacher_weights=None,
        soft_targets="oof",
        cv="auto",
        max_teacher_rows="auto",
        temperature=1.0,
        alpha=0.8,
        hidden_layer_sizes="auto",
        activation="silu",
        dropout=0.0,
        batch_size=256,
        learning_rate=3e-3,
        weight_decay=1e-4,
        max_epochs=200,
        epoch_rows=250_000,
        student_time_limit=None,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=30,
        tol=1e-4,
        validation_target="labels",
        lr_schedule="plateau",
        weight_averaging="ema",
        input_encoding="piecewise_linear",
        n_bins=64,
        n_frequencies=8,
        n_members=1,
        augmentation="auto",
        augment_factor=40.0,
        munge_p=0.5,
        munge_s=1.0,
        max_augment_rows=100_000,
        categorical_features=None,
        class_weight=None,
        memory=None,
        keep_teachers=False,
        n_jobs=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.teachers = teachers
        self.teacher_weights = teacher_weights
        self.soft_targets = soft_targets
        self.cv = cv
        self.max_teacher_rows = max_teacher_rows
        self.temperature = temperature
        self.alpha = alpha
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.epoch_rows = epoch_rows
        self.student_time_limit = student_time_limit
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.validation_target = validation_target
        self.lr_schedule = lr_schedule
        self.weight_averaging = weight_averaging
        self.input_encoding = input_encoding
        self.n_bins = n_bins
        self.n_frequencies = n_frequencies
        self.n_members = n_members
        self.augmentation = augmentation
        self.augment_factor = augment_factor
        self.munge_p = munge_p
        self.munge_s = munge_s
        self.max_augment_rows = max_augment_rows
        self.categorical_features = categorical_features
        self.class_weight = class_weight
        self.memory = memory
        self.keep_teachers = keep_teachers
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, X_unlabeled=None):
        """Fit the teachers, then distill them into the student.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs: numbers (NaN marks a missing value), or a DataFrame
            whose non-numeric (categorical or text) columns the estimator encodes
            itself; ``categorical_features`` marks numeric columns that are categories
            (see the raw-tables guide). A scipy sparse
            matrix (``OneHotEncoder``'s output) is never densified whole; teachers
            whose tags accept sparse input receive it as it is.
        y : array-like of shape (n_samples,)
            Class labels: strings, integers or any other hashable values.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to every teacher whose ``fit`` accepts it, and weights each row's
            term in the student's loss. With ``class_weight``, the two multiply.
        X_unlabeled : {array-like, sparse matrix} of shape (n_unlabeled, n_features), \
                default=None
            Extra rows without labels. The fitted teachers label them and the student
            learns from those soft targets too. Ignored, with a warning, when
            ``alpha=0``.

        Returns
        -------
        self : DistilledClassifier
        """
        _refuse_missing_labels(y)
        return self._fit(X, y, sample_weight, X_unlabeled)

    def _weigh_rows(self, y, sample_weight):
        """``sample_weight`` (validated, or None) times the per-row weights of
        ``class_weight``, for validated labels ``y``. A dict may name labels that this
        ``y`` lacks (a cross-validation fold without a rare class): they are ignored."""
        from sklearn.utils.class_weight import compute_sample_weight

        if self.class_weight is None:
            return sample_weight
        class_weight = self.class_weight
        if isinstance(class_weight, dict):
            bad = {k: v for k, v in class_weight.items()
                   if not isinstance(v, Real) or isinstance(v, bool) or not v >= 0}
            if bad:
                raise ValueError(f"class_weight values must be non-negative numbers; got "
                                 f"{bad}.")
            # Labels these rows lack are left out: scikit-learn would refuse a dict that
            # names one unless it also names every label the rows hold.
            present = set(np.unique(y).tolist())
            class_weight = {k: v for k, v in class_weight.items() if k in present}
        weights = compute_sample_weight(class_weight, y)
        return weights if sample_weight is None else sample_weight * weights

    def _default_teachers(self, random_state, sparse=False):
        return default_teachers(random_state=random_state, sparse=sparse)

    def _encode_target(self, y, sample_weight=None):
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"DistilledClassifier supports binary and multiclass targets; got {kind!r}. "
                "Pass a 1-D array of class labels."
            )
        encoder = LabelEncoder()
        y_enc = encoder.fit_transform(y)
        if len(encoder.classes_) < 2:
            raise ValueError(
                "DistilledClassifier needs samples of at least 2 classes in y, but y holds "
                f"only one class: {encoder.classes_[0]!r}. Check the target column or the split."
            )
        self.classes_ = encoder.classes_
        return y_enc.astype(np.int64), len(self.classes_)

    def _student_targets(self, soft_targets, y_enc):
        return soft_targets, y_enc

    def _loss_params(self):
        return {"temperature": self.temperature}

    def predict_proba(self, X):
        """Class probabilities from the student alone.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes), float64
            Rows sum to 1; columns follow ``classes_``.
        """
        return softmax(self._pinned()._student_output(X))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        return log_softmax(self._pinned()._student_output(X))

    def predict(self, X):
        """Predicted class labels (the original labels, not indices).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        model = self._pinned()  # one state: the student and classes_ of one fit
        output = model._student_output(X)  # checks fitted state before classes_ is read
        return model._labels(output)

    def _labels(self, output):
        """The class labels of the student's raw output: its largest logit per row."""
        return self.classes_[np.argmax(output, axis=1)]

    def _predict_and_proba(self, X):
        """``(predict(X), predict_proba(X))`` from one pass of ``X`` through the student."""
        model = self._pinned()
        output = model._student_output(X)
        return model._labels(output), softmax(output)

    def teacher_predict_proba(self, X):
        """The kept teacher ensemble's averaged probabilities, columns as ``classes_``.

        Requires ``keep_teachers=True`` at fit time.
        """
        return self.teacher_predict_output(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


#: Refusal of None and pd.NA labels, in the local and the Dask estimators alike.
MISSING_LABELS = ("Input y contains None or pd.NA (missing labels). Drop those rows, or "
                  "give them a label.")


def _refuse_missing_labels(y):
    """Refuse None and pd.NA among text labels: scikit-learn's own checks fail on them
    with an unrelated TypeError (NaN they name themselves)."""
    if y is None:
        return  # validation says y is required, in scikit-learn's words
    labels = np.asarray(y)
    if labels.dtype == object and any(v is None or type(v).__name__ == "NAType"
                                      for v in labels.ravel()):
        raise ValueError(MISSING_LABELS)
