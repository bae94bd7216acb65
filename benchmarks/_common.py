"""Pieces shared by the benchmark harness (``run.py``) and the ablations (``ablate.py``).

Splits, subsampling, metrics, thread limits and the machine description: every
benchmark number is produced by the same few functions.
"""

import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/run.py` as well as `-m benchmarks.run`
    sys.path.insert(0, str(REPO_ROOT))

#: Datasets with fewer rows than this get several seeds; larger ones one seed.
SMALL_DATASET_ROWS = 5000


def v010_params(n_train, task="classification"):
    """skdistill 0.1.0's student defaults, to measure side by side with the current ones.

    0.1.0 fed standardized columns to the network, made MUNGE rows (p=0.2, s=10, 5 per
    real row) for the classifier only below 5,000 training rows, trained in batches of
    256 at a step size of 3e-3 for at most 200 epochs, and stopped on the true-label
    validation loss with a plateau schedule after 10 epochs without improvement; the
    classifier's loss used temperature 2 and ``alpha=0.5``. Its student was (128, 64)
    and kept the best step's weights.
    """
    params = dict(input_encoding="standard", munge_p=0.2, munge_s=10.0, augment_factor=5.0,
                  validation_target="labels", lr_schedule="plateau", n_iter_no_change=10,
                  batch_size=256, learning_rate=3e-3, epoch_rows=None,
                  hidden_layer_sizes=(128, 64), weight_averaging="none", activation="relu",
                  max_epochs=200)
    if task == "classification":
        params.update(temperature=2.0, alpha=0.5)
        params["augmentation"] = "munge" if n_train < 5000 else None
    else:
        params["augmentation"] = None
    return params


def v031_params():
    """The classifier's training defaults before 0.4 (0.2 to 0.3.1), to measure side by side.

    0.4 changed three: temperature 2 to 1, ``alpha`` 0.5 to 0.8 and ``n_iter_no_change``
    10 to 30. The stopping criterion is written out too, so that a run with other
    defaults (a trial of ``validation_target="teachers"``) still measures 0.3.1 here; so
    is the epoch size, uncapped before 0.4.1's ``epoch_rows`` (which binds only above
    about 170,000 training rows), the bin count, 16 before 0.5, the student, (128, 64)
    with the best step's weights before 0.6, the synthetic rows, 20 per real row
    before 0.7, and the activation, ReLU before 0.8.
    """
    return dict(v060_params(), temperature=2.0, alpha=0.5, n_iter_no_change=10,
                validation_target="labels", epoch_rows=None, n_bins=16,
                hidden_layer_sizes=(128, 64), weight_averaging="none")


def v041_params():
    """The defaults 0.5 replaced (0.4.0 and 0.4.1), to measure side by side.

    0.5 cut each numeric column into 64 quantile bins instead of 16 (``n_bins``), for
    the classifier and the regressor. The encoding's code is this release's (its outer
    bins stay flat beyond one bin width, since 0.5), so this column differs from 0.5's
    in the bin count alone.
    """
    return dict(v050_params(), n_bins=16)


def v050_params():
    """The classifier's defaults 0.6 replaced (0.5.0), to measure side by side.

    0.6 sizes the student by its encoded input (``hidden_layer_sizes="auto"``: (256, 256)
    on most tables) and validates and keeps a moving average of its weights
    (``weight_averaging="ema"``); 0.5 trained (128, 64) and kept the best step's weights.
    The regressor's defaults did not change.
    """
    return dict(v060_params(), hidden_layer_sizes=(128, 64), weight_averaging="none")


def v060_params():
    """The classifier's defaults 0.7 replaced (0.6.0), to measure side by side.

    0.7 makes 40 synthetic MUNGE rows per real training row (``augment_factor``) instead
    of 20, for the classifier; the regressor keeps 20, so this changes nothing for it.
    """
    return dict(v070_params(), augment_factor=20.0)


def v070_params():
    """The classifier's defaults 0.8 replaced (0.7.0), to measure side by side.

    0.8's classifier student uses SiLU between its layers instead of ReLU
    (``activation``); the regressor keeps ReLU, so this changes nothing for it. Its
    200 epochs at most are written out, so that a change of that default leaves this
    column 0.7.0's.
    """
    return dict(activation="relu", max_epochs=200)


#: The earlier classifier defaults the benchmark runs beside the current ones, oldest
#: first: ``(method, key, release, params)``. ``method`` names the column in the results,
#: ``key`` its entry in the summary, and ``params(n_train)`` gives its parameters.
EARLIER_DEFAULTS = (
    ("distilled_v010", "v010", "0.1.0", v010_params),
    ("distilled_v070", "v070", "0.7.0", lambda n_train: v070_params()),
)


def script_command(module, argv=None):
    """The command line of ``python -m benchmarks.<module>``, as results files record it."""
    args = argv if argv is not None else sys.argv[1:]
    return " ".join([f"python -m benchmarks.{module}"] + [shlex.quote(a) for a in args])


def available_datasets(names, data_dir=None):
    """Yield ``(name, X, y)`` for each of ``names`` found in ``data_dir``.

    A missing dataset is skipped with a message: nothing is downloaded.
    """
    from skdistill._datasets import default_data_dir, load_dataset

    data_dir = Path(data_dir) if data_dir else default_data_dir()
    for name in names:
        data = load_dataset(name, data_dir, allow_download=False)
        if data is None:
            print(f"{name}: not in {data_dir}; skipped", flush=True)
            continue
        yield (name, *data)


def require_rows(rows, data_dir):
    """Exit with a message, before any page is written, when no table was measured: an
    empty page would replace the committed one in ``benchmarks/results``."""
    if not rows:
        from skdistill._datasets import default_data_dir

        sys.exit(f"No dataset was found in {data_dir or default_data_dir()}: nothing "
                 "measured and nothing written. Pass --data-dir (see ../shared/datasets).")


def datasets_with_teacher_cache(names, data_dir=None, prefix="skdistill-bench-"):
    """:func:`available_datasets`, each with ``memory``: ``(name, X, y, memory)``.

    ``memory`` is one ``joblib.Memory`` in a temporary folder, shared by the whole loop
    and removed after it, so that fits differing in the student alone fit the teachers
    once.
    """
    import joblib

    with tempfile.TemporaryDirectory(prefix=prefix) as cache:
        memory = joblib.Memory(cache, verbose=0)
        for data in available_datasets(names, data_dir):
            yield (*data, memory)


def alternated_student_fits(names, data_dir, prefix, fit, kinds, repeats):
    """Fits that differ in the student's training alone, alternated on each table.

    For each table: the seed-0 split (3,000 training rows), one ``fit(X, y, memory,
    None)`` that fits and caches the teachers, then ``repeats`` rounds of
    ``fit(X, y, memory, kind)`` for each of ``kinds`` in turn, so that the load of a
    shared machine falls on every kind alike. Yields ``(name, {kind: [result, ...]})``.
    """
    for name, X_all, y_all, memory in datasets_with_teacher_cache(names, data_dir, prefix):
        X, _, y, _, _ = make_split(X_all, y_all, 0, max_train=3_000, max_test=2_000)
        fit(X, y, memory, None)
        results = {kind: [] for kind in kinds}
        for _ in range(repeats):
            for kind in kinds:
                results[kind].append(fit(X, y, memory, kind))
        yield name, results


def fixed_epoch_fit(X, y, memory, epochs):
    """A default ``DistilledClassifier`` fitted for exactly ``epochs`` epochs (no early
    stop), from :func:`benchmark_teachers` cached in ``memory``: the student fit that
    :func:`alternated_student_fits`'s scripts time."""
    from skdistill import DistilledClassifier

    return DistilledClassifier(teachers=benchmark_teachers(0), random_state=0, n_jobs=1,
                               memory=memory, max_epochs=epochs,
                               n_iter_no_change=epochs).fit(X, y)


def alternated_fits_header(title, env, epochs, repeats, protocol_note=""):
    """The first lines of a results page written from :func:`alternated_student_fits`:
    title, command, date and machine, versions, and the protocol (``protocol_note``
    appended to it)."""
    return [f"# {title}", "",
            command_line(env),
            f"- Date: {env['date']}; machine: {env['machine']} (shared; the two are "
            "alternated, so load affects both alike)",
            "- Versions: " + versions_text(env),
            f"- One split per table (seed 0, 3,000 training rows), default settings with "
            f"{epochs} epochs and no early stop; median of {repeats} fits each."
            + protocol_note]


def output_folder(path):
    """``--out-dir``'s argparse type: the folder, made now if it is missing, so that a
    run of many minutes does not end in an error for want of it."""
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


def add_page_args(parser, tag):
    """The options of a script that runs per table and writes ``<out-dir>/<tag>.md`` and
    ``.csv``, or renders the page from earlier runs' CSVs (:func:`runs_or_rendered`)."""
    parser.add_argument("--datasets", nargs="+", default=None,
                        help="default: every classification table in the data folder")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=str(REPO_ROOT / "benchmarks" / "results"),
                        type=output_folder)
    parser.add_argument("--tag", default=tag)
    parser.add_argument("--render", nargs="+", default=None, metavar="CSV",
                        help="write the page from these CSVs instead of running")
    parser.add_argument("--note", default=None,
                        help="with --render: how the CSVs were made, for the page's header")


def runs_or_rendered(args, run):
    """The runs' rows as a DataFrame: read from ``args.render``'s CSVs, or ``run()``'s
    list of dicts, written to ``<out-dir>/<tag>.csv``; None when ``run`` gives none."""
    import pandas as pd

    if args.render:
        return pd.concat([pd.read_csv(p) for p in args.render], ignore_index=True)
    rows = run()
    if not rows:
        return None
    df = pd.DataFrame(rows)
    df.to_csv(Path(args.out_dir) / f"{args.tag}.csv", index=False)
    return df


def markdown_table(records, columns=None):
    """The lines of a markdown table: one row per record (a dict), ``columns`` (default:
    the first record's keys) in order, a missing value as an empty cell."""
    columns = list(records[0]) if columns is None else columns
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in records]
    return lines


def limit_threads():
    """One thread for torch and the OpenMP/BLAS pools; returns the threadpoolctl handle.

    On this 2-core machine, shared with other jobs, torch's default of one intra-op
    thread per core made the student's mini-batch training about 7x slower (41.6 s vs
    6.0 s for the same fit on phoneme) and LightGBM's OpenMP pool about 9x slower
    (6.3 s vs 0.7 s): threads that wait for busy cores cost far more than they give on
    tiny matrices. Forests keep their own joblib ``n_jobs=-1``. The benchmark is the
    application here, so it may set the process-wide torch thread count.
    """
    # threadpoolctl only reaches the OpenMP/BLAS runtimes already loaded, so load the
    # teachers' libraries first; OMP_NUM_THREADS covers any runtime loaded later.
    import lightgbm  # noqa: F401
    import torch
    import xgboost  # noqa: F401
    from sklearn.neural_network import MLPClassifier  # noqa: F401
    from threadpoolctl import threadpool_limits

    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    limits = threadpool_limits(limits=1)
    # torch imports its compiler stack (torch._dynamo, about 2 s) on the first optimizer
    # a process builds: pay it here, not inside whichever student is timed first.
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])

    def restore():
        """Undo the limits (the smoke test runs the harness inside pytest)."""
        limits.restore_original_limits()
        torch.set_num_threads(torch_threads)

    return restore


def benchmark_teachers(random_state):
    """``default_teachers(random_state)`` with the boosters on one thread.

    The models are the defaults; only their thread counts change. LightGBM 4 starts one
    OpenMP thread per physical core by default and sets that itself, past threadpoolctl.
    On the shared, oversubscribed 2-core machine its hundreds of parallel regions per fit
    then each wait for a descheduled thread: fitting the default LightGBM member on
    diabetes (768 rows) took 366 s of wall time for 24 s of CPU, against well under a
    second on one thread.
    """
    from skdistill import default_teachers

    teachers = default_teachers(random_state=random_state)
    for name, est in teachers:
        if name in ("lgbm", "xgb"):
            est.set_params(n_jobs=1)
    return teachers


def classification_datasets():
    from skdistill._datasets import DATASETS

    return [name for name, (task, _) in DATASETS.items() if task == "classification"]


def _stratify_or_none(y):
    _, counts = np.unique(y, return_counts=True)
    return y if counts.min() >= 2 else None


def make_split(X, y, seed, test_size=0.25, max_train=None, max_test=None):
    """A stratified train/test split, then stratified subsamples of each side.

    Every method of a run sees this same split. Returns
    ``(X_train, X_test, y_train, y_test, info)``; ``info`` records the sizes.
    """
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=_stratify_or_none(y), random_state=seed)
    n_train_full, n_test_full = len(y_train), len(y_test)
    if max_train and len(y_train) > max_train:
        X_train, _, y_train, _ = train_test_split(
            X_train, y_train, train_size=max_train, stratify=_stratify_or_none(y_train),
            random_state=seed)
    if max_test and len(y_test) > max_test:
        X_test, _, y_test, _ = train_test_split(
            X_test, y_test, train_size=max_test, stratify=_stratify_or_none(y_test),
            random_state=seed)
    info = {"n_train": len(y_train), "n_test": len(y_test),
            "n_train_before_subsample": n_train_full, "n_test_before_subsample": n_test_full,
            "subsampled": len(y_train) < n_train_full or len(y_test) < n_test_full}
    return X_train, X_test, y_train, y_test, info


# -- metrics ------------------------------------------------------------------------------
def _label_index(classes, y):
    """Column of each true label in ``classes``; -1 for a label the model never saw."""
    classes = np.asarray(classes)
    order = np.argsort(classes)
    pos = np.searchsorted(classes[order], y)
    pos = np.clip(pos, 0, len(classes) - 1)
    idx = order[pos]
    idx[classes[idx] != y] = -1
    return idx


def accuracy(classes, proba, y):
    return float(np.mean(np.asarray(classes)[np.argmax(proba, axis=1)] == y))


def log_loss(classes, proba, y, eps=1e-15):
    """Mean negative log-probability of the true class (a never-seen class gets ``eps``)."""
    idx = _label_index(classes, y)
    p = np.where(idx >= 0, proba[np.arange(len(y)), np.maximum(idx, 0)], 0.0)
    return float(-np.mean(np.log(np.clip(p, eps, 1.0))))


def expected_calibration_error(classes, proba, y, n_bins=15):
    """Top-label ECE: confidence vs accuracy gap, averaged over equal-width bins.

    Uses ``skdistill.expected_calibration_error`` where the library has it, else the same
    computation here (the two differ only for a confidence exactly on a bin edge).
    """
    metrics = _library_metrics()
    if metrics is not None and hasattr(metrics, "expected_calibration_error"):
        try:
            return float(metrics.expected_calibration_error(
                y, proba, labels=np.asarray(classes), n_bins=n_bins))
        except (TypeError, ValueError):  # another signature, or an unseen test label
            pass
    conf = proba.max(axis=1)
    correct = np.asarray(classes)[proba.argmax(axis=1)] == y
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(conf[mask].mean() - correct[mask].mean())
    return float(ece)


def _library_metrics():
    try:
        from skdistill import _metrics
    except ImportError:
        return None
    return _metrics


def fidelity(pred_a, pred_b):
    return float(np.mean(np.asarray(pred_a) == np.asarray(pred_b)))


def gain_retained(student, teacher, hard):
    """(student - hard) / (teacher - hard); NaN when the teacher does not beat hard labels."""
    gap = teacher - hard
    if not np.isfinite(gap) or abs(gap) < 1e-12:
        return float("nan")
    return float((student - hard) / gap)


# -- environment ----------------------------------------------------------------------------
def _git_commit():
    """`` (commit abc1234)`` of the measured checkout, or ``""`` outside git."""
    import subprocess

    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return f" (commit {out.stdout.strip()})" if out.returncode == 0 and out.stdout else ""


def command_line(env):
    """A results page's "- Command:" line, from :func:`environment`'s record."""
    return f"- Command: `{env['command']}` (from the repository root)"


def versions_text(env):
    """The library versions of :func:`environment`'s record, as one comma-separated
    string for a results page."""
    return ", ".join(f"{k} {v}" for k, v in env["versions"].items())


def environment(command):
    from importlib.metadata import PackageNotFoundError, version

    import skdistill

    versions = {"skdistill": skdistill.__version__ + _git_commit()}
    for dist in ("numpy", "scikit-learn", "torch", "xgboost", "lightgbm", "lleaves",
                 "llvmlite", "pandas", "matplotlib"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "not installed"
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}",
        "python": platform.python_version(),
        "versions": versions,
        "load_average_at_start": load,
    }
