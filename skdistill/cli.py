"""The ``skdistill`` command line: demo, fit, predict, info and export.

Progress and warnings are records of the ``"skdistill"`` logger, which the command line
sends to stderr; results go to stdout, so ``skdistill predict ... > out.csv`` and pipes
stay clean. Errors a user can fix (a missing column, a corrupt model file)
print one ``skdistill: error: ...`` line and exit with status 1, without a traceback;
set ``SKDISTILL_DEBUG=1`` to see the traceback anyway.
"""

import argparse
import contextlib
import logging
import os
import sys
import time
import warnings

from ._measure import format_bytes, format_ratio, format_seconds
from ._progress import STOPPED_BY_WORDS, log_to_stderr, logger

TEACHER_NAMES = ("rf", "et", "xgb", "lgbm", "mlp")


class CLIError(Exception):
    """An error the user can fix; printed as one line."""


def _progress(message):
    # INFO: shown unless --quiet (main sets the stderr handler's level).
    logger.info(message)


def _check_output_path(path, option="-o"):
    """Refuse an output path that cannot be written, before any slow step runs.

    A fit takes minutes; finding out only at the end that the folder is missing or that
    the name is a directory would throw that work away.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CLIError(f"{option} {path!r} is a directory; give a file name, e.g. "
                       f"{os.path.join(path, 'model.skd')!r}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"{option} {path!r}: the folder {folder!r} does not exist; create it "
                       "first.")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise CLIError(f"{option} {path!r} exists and is not writable.")
    elif not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"{option} {path!r}: the folder {folder!r} is not writable.")


def _check_has_rows(frame, path):
    if len(frame) == 0:
        raise CLIError(f"{path!r} has a header row but no data rows.")


def _table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*r) for r in rows]
    return "\n".join(s.rstrip() for s in out)


# -- demo -----------------------------------------------------------------------------
def _cmd_demo(args):
    from ._demo import run_demo

    _check_output_path(args.output)
    run_demo(output=args.output, random_state=args.random_state)
    return 0


# -- fit ------------------------------------------------------------------------------
def _teacher_names(names):
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in TEACHER_NAMES]
    if unknown or not wanted:
        raise CLIError(f"unknown teacher(s) {unknown or names!r}; choose from "
                       f"{','.join(TEACHER_NAMES)} (comma-separated).")
    return wanted


def _teachers(wanted, task, n_estimators, random_state):
    from ._teachers import default_regression_teachers, default_teachers

    make = default_teachers if task == "classification" else default_regression_teachers
    teachers = [(n, est) for n, est in make(random_state=random_state) if n in wanted]
    if n_estimators is not None:
        for name, est in teachers:
            if name in ("rf", "et", "xgb", "lgbm"):
                est.set_params(n_estimators=n_estimators)
    return teachers


def _separator(sep):
    # A shell passes "\t" as two characters; the tab is what the user means.
    return "\t" if sep in ("\\t", "tab") else sep


def _folds(text):
    """``--cv``: an integer of at least 2, or ``auto``."""
    if text == "auto":
        return text
    try:
        folds = int(text)
    except ValueError:
        folds = 0
    if folds < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: give 'auto' or a number of folds >= 2")
    return folds


def _hidden_sizes(text):
    if text.strip() == "auto":
        return "auto"
    try:
        sizes = tuple(int(h) for h in text.split(",") if h.strip())
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise CLIError(f"--hidden {text!r}: give 'auto' or comma-separated positive layer "
                       "widths, e.g. --hidden 128,64.")
    return sizes


def _student_params(args, task):
    """The student options of ``fit``, checked before any slow step."""
    params = {}
    if args.hidden is not None:
        params["hidden_layer_sizes"] = _hidden_sizes(args.hidden)
    if args.members is not None:
        if args.members < 1:
            raise CLIError(f"--members must be a positive integer; got {args.members}.")
        params["n_members"] = args.members
    if args.alpha is not None:
        if not 0 <= args.alpha <= 1:
            raise CLIError(f"--alpha must lie in [0, 1]; got {args.alpha}.")
        params["alpha"] = args.alpha
    if args.max_epochs is not None:
        if args.max_epochs < 1:
            raise CLIError(f"--max-epochs must be a positive integer; got {args.max_epochs}.")
        params["max_epochs"] = args.max_epochs
    if args.student_time_limit is not None:
        if not args.student_time_limit > 0:
            raise CLIError("--student-time-limit must be a positive number of seconds; got "
                           f"{args.student_time_limit}.")
        params["student_time_limit"] = args.student_time_limit
    if args.lr_schedule is not None:
        params["lr_schedule"] = args.lr_schedule
    if args.temperature is not None:
        if task != "classification":
            raise CLIError("--temperature applies to classification only; this target is "
                           "a regression (use --task classification if it is not).")
        if not args.temperature > 0:
            raise CLIError(f"--temperature must be positive; got {args.temperature}.")
        params["temperature"] = args.temperature
    return params


def _cmd_fit(args):
    from ._persist import save
    from ._tabular import detect_task

    wanted = _teacher_names(args.teachers)  # fail before any slow step
    _check_fit_arguments(args)
    frame, target, ids = _read_training_table(args)
    task = detect_task(target) if args.task == "auto" else args.task
    student_params = _student_params(args, task)
    X, y = _encode_table(frame, target, task)
    X_train, y_train, X_test, y_test = _holdout_split(X, y, task, args)

    teachers = _teachers(wanted, task, args.n_estimators, args.random_state)
    params = dict(teachers=teachers, cv=args.cv,
                  keep_teachers=X_test is not None, random_state=args.random_state,
                  verbose=0 if args.quiet else 1, **student_params)
    if task == "classification":
        from ._classifier import DistilledClassifier as Model
    else:
        from ._regressor import DistilledRegressor as Model
    model, fit_seconds = _fit_model(Model(**params), X_train, y_train, teachers)

    summary = {"task": task, "n_train_rows": int(len(X_train)),
               "n_holdout_rows": 0 if X_test is None else int(len(X_test)),
               "teachers": [n for n, _ in teachers], "fit_seconds": fit_seconds}
    if X_test is not None:
        _warn_unseen_categories(model, X_test)
        with _unseen_categories_counted():
            summary.update(holdout_summary(model, X_test, y_test))
        if args.refit:
            summary["refit_rows"] = int(len(X))
        # Printed before a refit, which can take as long again.
        print(_summary_table(summary), flush=True)
        if args.refit:
            _progress(f"--refit: training teachers and student again on all {len(X)} rows.")
            params["keep_teachers"] = False
            model, _ = _fit_model(Model(**params), X, y, teachers)
        else:
            from ._base import drop_teachers

            drop_teachers(model)  # the saved model never carries teachers
            model.keep_teachers = False
    else:
        print(_summary_table(summary))
    # The columns' kinds and categories are the model's own (model.table_).
    metadata = {"target": args.target,
                "source": os.path.basename(args.train), "summary": summary}
    if ids:
        metadata["id_columns"] = list(ids)
    path = save(model, args.output, metadata=metadata)
    trained_on = (f"all {len(X)} rows" if args.refit or X_test is None
                  else f"{len(X_train)} rows; --refit trains on all {len(X)}")
    print(f"Saved the student to {path} ({format_bytes(path.stat().st_size)}, trained on "
          f"{trained_on}).")
    return 0


def _check_fit_arguments(args):
    """``fit``'s option errors that need no data, raised before the table is read."""
    if not 0 <= args.holdout < 1:
        raise CLIError(f"--holdout must lie in [0, 1); got {args.holdout}.")
    if args.refit and args.holdout == 0:
        raise CLIError("--refit retrains on all rows after the held-out comparison; with "
                       "--holdout 0 the model already trains on all rows.")
    if args.hidden is not None:
        _hidden_sizes(args.hidden)
    _check_output_path(args.output)


def _read_training_table(args):
    """The training CSV as ``(features, target, id_columns)``, the ID columns dropped."""
    from ._tabular import read_csv

    frame = read_csv(args.train, sep=_separator(args.sep), encoding=args.encoding)
    _check_has_rows(frame, args.train)
    if args.target not in frame.columns:
        raise CLIError(f"target column {args.target!r} is not in {args.train!r}; its columns "
                       f"are {', '.join(map(repr, frame.columns))}.")
    ids = args.id or []
    missing_ids = [c for c in ids if c not in frame.columns or c == args.target]
    if missing_ids:
        raise CLIError(f"--id column(s) {', '.join(map(repr, missing_ids))} are not feature "
                       f"columns of {args.train!r}.")
    # ID columns identify rows; they must not become features.
    frame = frame.drop(columns=ids)
    target = frame.pop(args.target)
    if target.isna().any():
        raise CLIError(f"target column {args.target!r} has {int(target.isna().sum())} empty "
                       "cell(s); remove those rows or fill them.")
    if frame.shape[1] == 0:
        raise CLIError(f"{args.train!r} has no feature columns besides the target.")
    return frame, target, ids


def _encode_table(frame, target, task):
    """``(X, y)``: the features as the estimator reads a DataFrame, the target encoded."""
    from ._tabular import encode_target, typed_frame

    y = encode_target(target, task)
    # Numbers and text, as the estimator reads a DataFrame: its TableSchema does the
    # encoding (median fill, missing flags, categories) and the .skd file stores it.
    X = typed_frame(frame)
    n_text = sum(dtype.kind == "O" for dtype in X.dtypes)
    n_empty = int(X.isna().any().sum())
    _progress(f"Read {len(X)} rows: {X.shape[1]} columns ({n_text} text, "
              f"{n_empty} with empty cells); task: {task}.")
    return X, y


def _holdout_split(X, y, task, args):
    """``(X_train, y_train, X_test, y_test)``: ``--holdout`` of the rows held out
    (stratified for a classifier where every class has two rows), or no test rows.

    A held-out row of a class that no training row has goes back to training: the
    model could not predict its label, and the held-out comparison would fail on it.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    if args.holdout == 0:
        return X, y, None, None
    stratify = None
    if task == "classification":
        _, counts = np.unique(y, return_counts=True)
        stratify = y if counts.min() >= 2 else None
    train_idx, test_idx = train_test_split(
        np.arange(len(X)), test_size=args.holdout, stratify=stratify,
        random_state=args.random_state)
    if task == "classification":
        unseen = ~np.isin(y[test_idx], y[train_idx])
        train_idx = np.concatenate([train_idx, test_idx[unseen]])
        test_idx = test_idx[~unseen]
        if not len(test_idx):
            return X, y, None, None
    train_idx, test_idx = _empty_cells_in_training(X, y, train_idx, test_idx, task)
    return X.iloc[train_idx], y[train_idx], X.iloc[test_idx], y[test_idx]


def _empty_cells_in_training(X, y, train_idx, test_idx, task):
    """Swap one held-out row with empty cells into the training rows, if none is there.

    A table of numbers without a single empty cell keeps no schema, and its model
    refuses empty cells. When every row with an empty cell fell into the held-out split,
    the held-out comparison, and every later prediction of the saved model, would fail on
    them; a swap with a training row (of the same class, to keep the split's balance)
    keeps the split sizes. A table with a text column always has a schema, whose model
    fills any empty cell: its split stays as drawn.
    """
    import numpy as np

    if any(dtype.kind == "O" for dtype in X.dtypes):
        return train_idx, test_idx
    empty = X.isna().to_numpy().any(axis=1)
    if not empty[test_idx].any() or empty[train_idx].any():
        return train_idx, test_idx
    train_idx, test_idx = train_idx.copy(), test_idx.copy()
    i = int(np.flatnonzero(empty[test_idx])[0])
    same = np.flatnonzero(y[train_idx] == y[test_idx[i]]) if task == "classification" else []
    j = int(same[0]) if len(same) else 0
    train_idx[j], test_idx[i] = test_idx[i], train_idx[j]
    return train_idx, test_idx


def _fit_model(model, X, y, teachers):
    folds = model._teacher_folds(len(X), y=y)
    _progress(f"Fitting teachers ({', '.join(n for n, _ in teachers)}) with {folds}-fold "
              f"cross-fitted soft targets on {len(X)} rows, then the student...")
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    _progress(f"Done in {seconds:.1f} s (teachers {model.fit_info_['teacher_fit_seconds']:.1f}"
              f" s, student {model.fit_info_['student_fit_seconds']:.1f} s, "
              f"{model.n_iter_} epochs).")
    return model, seconds


def holdout_summary(model, X_test, y_test, **report_params):
    """The hold-out figures of ``fit``'s table, taken from :func:`build_report`.

    The command line does not measure anything itself: accuracy (or R²), fidelity, size
    and latency are the report's, so the table and ``model.report(X_test, y_test)``
    agree on the same model and rows.
    """
    from ._report import build_report

    report = build_report(model, X_test, y_test, **report_params).to_dict()
    metric = "accuracy" if report["task"] == "classification" else "r2"
    return {
        "metric": metric,
        "teacher_score": report["metrics"][metric]["teacher"],
        "student_score": report["metrics"][metric]["student"],
        "fidelity": report["fidelity"],
        "teacher_bytes": report["sizes"]["teacher_bytes"],
        "student_bytes": report["sizes"]["student_bytes"],
        "teacher_latency_s": report["latency"]["teacher_seconds"],
        "student_latency_s": report["latency"]["student_seconds"],
    }


def _summary_table(s):
    if "metric" not in s:
        return (f"Trained on all {s['n_train_rows']} rows (--holdout 0): no held-out "
                "comparison with the teachers.")
    fid = ("fidelity (agrees with teacher)" if s["metric"] == "accuracy"
           else "fidelity (R2 against teacher)")
    rows = [
        (f"held-out {s['metric']}", f"{s['teacher_score']:.4f}", f"{s['student_score']:.4f}",
         f"{s['student_score'] - s['teacher_score']:+.4f}"),
        (fid, "", f"{s['fidelity']:.4f}", ""),
        ("size (pickle, as shipped)", format_bytes(s["teacher_bytes"]),
         format_bytes(s["student_bytes"]),
         format_ratio(s["teacher_bytes"], s["student_bytes"], "smaller", "larger")),
        ("single-row latency", format_seconds(s["teacher_latency_s"]),
         format_seconds(s["student_latency_s"]),
         format_ratio(s["teacher_latency_s"], s["student_latency_s"], "faster", "slower")),
    ]
    title = (f"Held-out comparison on {s['n_holdout_rows']} rows "
             f"(trained on {s['n_train_rows']}"
             + (f"; the saved model is refit on all {s['refit_rows']}):"
                if s.get("refit_rows") else "):"))
    return title + "\n" + _table(rows, ("", "teachers", "student", "difference"))


# -- predict --------------------------------------------------------------------------
def _load_model(path):
    """(model, metadata) of a saved model, or a one-line error the user can act on."""
    from ._persist import ModelFormatError, load

    try:
        model, metadata = load(path, return_metadata=True)
    except (ModelFormatError, OSError):
        raise  # already a clear message: a corrupt file, a missing file
    except Exception as exc:
        # load() is meant to raise only ModelFormatError; anything else from a damaged or
        # foreign file is still the file's fault, not a bug to show a traceback for.
        if os.environ.get("SKDISTILL_DEBUG"):
            raise
        raise CLIError(f"{str(path)!r} is not a readable skdistill model "
                       f"({type(exc).__name__}: {exc}).") from exc
    metadata = metadata or {}
    if "tabular" in metadata:
        # skdistill 0.2's command line one-hot encoded the CSV itself and fitted the model
        # on that matrix; reading such a file would take a second encoding, which is what
        # this version removed. The model's own TableSchema now encodes the columns.
        raise CLIError(f"{str(path)!r} was written by the command line of skdistill 0.2, "
                       "which encoded the columns differently; fit it again with this "
                       "version (skdistill fit).")
    return model, metadata


def _cmd_predict(args):
    import pandas as pd

    from ._tabular import check_columns, model_columns, model_input, read_csv

    if args.output:
        _check_output_path(args.output)
    model, metadata = _load_model(args.model)
    frame = read_csv(args.data, sep=_separator(args.sep), encoding=args.encoding)
    _check_has_rows(frame, args.data)
    frame.columns = [str(c) for c in frame.columns]
    target = metadata.get("target")
    present = list(frame.columns)
    if args.id:
        ids = list(args.id)
        missing = [c for c in ids if c not in present]
        if missing:
            raise CLIError(f"--id column(s) {', '.join(map(repr, missing))} are not in "
                           f"{args.data!r}; its columns are {', '.join(map(repr, present))}.")
    else:
        # Columns fit was told are IDs travel to the output when the data has them.
        ids = [c for c in metadata.get("id_columns", []) if c in present]
    columns = model_columns(model)
    names = [c["name"] for c in columns]
    ignore = ([target] if target else []) + ids
    extra = check_columns(present, names, ignore=ignore, ignore_extra=args.ignore_extra)
    if extra:
        _progress(f"--ignore-extra: not using column(s) {', '.join(map(repr, extra))}.")
    X = model_input(frame, columns)
    _check_empty_cells(model, X)
    _warn_unseen_categories(model, X)
    if getattr(model, "feature_names_in_", None) is None:
        # A model fitted on an array (from Python) takes an array: its columns are
        # numbers (categories included), and column names would only draw a warning.
        X = X.to_numpy(dtype=float)
    out = frame[ids].copy() if ids else pd.DataFrame(index=frame.index)
    name = f"predicted_{target}" if target else "prediction"
    if args.proba and model._task != "classification":
        raise CLIError("--proba needs a classifier; this model is a regressor.")
    with _unseen_categories_counted():
        if args.proba:
            # One pass of the table through the student for both outputs.
            out[name], proba = model._predict_and_proba(X)
            for j, label in enumerate(model.classes_):
                out[f"proba_{label}"] = proba[:, j]
        else:
            out[name] = model.predict(X)
    if args.output:
        out.to_csv(args.output, index=False)
        _progress(f"Wrote {len(out)} predictions to {args.output}.")
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


def _check_empty_cells(model, X):
    """Name the columns with empty cells when the model cannot fill them.

    A model fitted on a table with missing values or text columns imputes every numeric
    column; one fitted on numbers without a single empty cell has nothing to fill them
    with, and would only say "NaN" without naming the column.
    """
    if model.student_.accepts_missing:
        return
    empty = X.isna().sum()
    empty = empty[empty > 0]
    if len(empty):
        counts = ", ".join(f"{name!r} ({int(n)} row(s))" for name, n in empty.items())
        raise CLIError(f"empty cells in column(s) {counts}: the model was trained on data "
                       "without empty cells and cannot fill them; fill them before "
                       "predicting, or fit again on data that has some.")


def _warn_unseen_categories(model, X):
    """One warning line per column holding categories the model did not see in training.

    The model's own codes say which cells are unseen (code -1); the matching itself is
    the TableSchema's. The model's UserWarning with the same counts is then silenced
    (see _unseen_categories_counted), so each count is shown once, as a CLI line.
    """
    table = getattr(model, "table_", None)
    if table is None or not table.categorical_mask.any():
        return
    codes = table.encode(X, warn_unseen=False)
    for j in map(int, table.categorical_mask.nonzero()[0]):
        unseen = codes[:, j] == -1
        if unseen.any():
            name = table.columns[j]["name"]
            examples = _first_values(X.iloc[:, j][unseen], 3)
            logger.warning(
                f"column {name!r}: {int(unseen.sum())} of {len(X)} row(s) hold categories "
                f"not seen in training (e.g. {', '.join(map(repr, examples))}); the model "
                "reads them as unknown, so predictions for them are less reliable.")


def _first_values(values, n):
    """The first ``n`` distinct values of a Series, as plain Python values."""
    from ._table import _plain

    return [_plain(v) for v in values.unique()[:n]]


@contextlib.contextmanager
def _unseen_categories_counted():
    """Silence the model's unseen-category warning: _warn_unseen_categories showed it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Categories not seen at fit",
                                category=UserWarning)
        yield


# -- info -----------------------------------------------------------------------------
def _cmd_info(args):
    from ._persist import read_header
    from ._tabular import model_columns

    header = read_header(args.model)
    model, metadata = _load_model(args.model)
    student = model.student_
    lines = [
        f"Model: {header['estimator']} ({header['task']}), saved by skdistill "
        f"{header['skdistill_version']}, format version {header['format_version']}.",
        f"File: {args.model}, {format_bytes(os.path.getsize(args.model))}; student "
        f"{'-'.join(map(str, student.layer_sizes))}"
        f"{f' x {student.n_members} members' if student.n_members > 1 else ''}, "
        f"activation {student.activation}, "
        f"{student.n_parameters} parameters ({format_bytes(student.nbytes)} of float32).",
    ]
    if header["task"] == "classification":
        lines.append(f"Classes ({len(model.classes_)}): "
                     f"{', '.join(map(str, model.classes_.tolist()))}")
    if metadata.get("target"):
        lines.append(f"Target column: {metadata['target']}"
                     + (f" (trained from {metadata['source']})" if metadata.get("source") else ""))
    columns = model_columns(model)
    lines.append(f"Input columns ({len(columns)}):")
    for c in columns:
        if c["kind"] == "numeric":
            lines.append(f"  {c['name']}: numeric")
        else:
            cats = [str(v) for v in c["categories"]]
            shown = ", ".join(cats[:8]) + (", ..." if len(cats) > 8 else "")
            lines.append(f"  {c['name']}: categorical, {len(cats)} categories ({shown})")
    # Whether predict accepts empty cells: a model trained without any cannot fill them.
    lines.append("Empty cells: " + (
        "filled by the model (a numeric cell gets the training median; a categorical one "
        "reads as no category)."
        if student.accepts_missing else
        "refused (the training data had none, so the model has nothing to fill them with)."))
    teachers = header.get("teacher_names") or (metadata.get("summary") or {}).get("teachers")
    if teachers:
        lines.append(f"Teachers (not stored): {', '.join(teachers)}")
    info = model.fit_info_
    ended = STOPPED_BY_WORDS.get(info.get("stopped_by"))  # files before 0.8.3 do not say
    epochs = f"{model.n_iter_} epochs" + (f" (ended by {ended})" if ended else "")
    lines.append(f"Training: {epochs}, best epoch {info.get('best_epoch')}, "
                 f"{info.get('n_real_rows')} rows, teachers "
                 f"{info.get('teacher_fit_seconds', 0):.1f} s, student "
                 f"{info.get('student_fit_seconds', 0):.1f} s on {info.get('device')}.")
    if metadata.get("summary"):
        lines.append(_summary_table(metadata["summary"]))
    print("\n".join(lines))
    return 0


# -- export ---------------------------------------------------------------------------
def _cmd_export(args):
    from ._onnx import to_onnx
    from ._tabular import model_columns

    _check_output_path(args.onnx, option="--onnx")
    model, _ = _load_model(args.model)
    columns = model_columns(model)
    names = [c["name"] for c in columns]
    categorical = [c["name"] for c in columns if c["kind"] == "categorical"]
    if categorical and not args.encoded_input:
        raise CLIError(
            f"{args.model} has categorical column(s) {', '.join(map(repr, categorical))}, "
            "whose text the ONNX graph cannot read (it takes one float matrix). Pass "
            "--encoded-input to export the graph over the table's codes: each category as "
            "its index in the list stored in the graph's metadata (table)."
        )
    to_onnx(model, args.onnx)
    if categorical:
        how = ("categorical ones as the index of their category in the \"table\" metadata "
               "(-1 unseen, NaN empty)")
    elif model.student_.accepts_missing:
        how = "NaN for an empty cell, which the graph fills"
    else:
        how = "no NaN (the model was trained without empty cells)"
    shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10
                                     else "")
    print(f"Wrote {args.onnx}: input X float32 [n, {len(names)}], the columns {shown} in "
          f"this order; {how}.", file=sys.stderr)
    return 0


# -- parser ---------------------------------------------------------------------------
def _default(name):
    """The estimators' default for ``name``, as the ``fit`` help states it: read from them,
    so that the help follows a changed default."""
    from ._classifier import DistilledClassifier
    from ._regressor import DistilledRegressor

    def text(value):
        if isinstance(value, tuple):
            return ",".join(map(str, value))
        return f"{value:g}" if isinstance(value, float) else str(value)

    values = {}
    for task, model in (("classification", DistilledClassifier),
                        ("regression", DistilledRegressor)):
        params = model().get_params()
        if name in params:
            values[task] = text(params[name])
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{v} for {task}" for task, v in values.items())


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skdistill",
        description="Distill a tabular ensemble into one small, fast neural network.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="distill the default ensemble on a built-in dataset and compare",
        description="Distill the default teacher ensemble on scikit-learn's digits data and "
                    "print teacher vs student accuracy, fidelity, size and latency.",
    )
    demo.add_argument("-o", "--output", default="skdistill-demo-student.skd",
                      help="where to save the student (default: %(default)s)")
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)

    fit = sub.add_parser(
        "fit", help="fit teachers and a student on a CSV file and save the student",
        description="Fit the teacher ensemble on TRAIN.csv, distill it into a student, print "
                    "teacher vs student accuracy, fidelity, size and latency on a held-out "
                    "split, and save the student (without teachers) in the safe .skd format. "
                    "A column whose cells all parse as numbers is numeric, any other is "
                    "categorical; the model encodes them itself (empty cells, categories) "
                    "and stores its column schema, so predict takes raw rows.",
    )
    fit.add_argument("train", metavar="TRAIN.csv", help="training data with a header row")
    fit.add_argument("--target", required=True, metavar="COL", help="the column to predict")
    fit.add_argument("--sep", default=",", metavar="SEP",
                     help="field separator of the CSV file, e.g. ';' or '\\t' "
                          "(default: %(default)s)")
    fit.add_argument("--encoding", default="utf-8", metavar="ENC",
                     help="text encoding of the CSV file, e.g. latin-1 (default: %(default)s)")
    fit.add_argument("--id", action="append", metavar="COL",
                     help="a column that identifies rows and is not a feature; repeatable. "
                          "predict copies it to the output when the data has it")
    fit.add_argument("--teachers", default=",".join(TEACHER_NAMES), metavar="LIST",
                     help="comma-separated teachers from %(default)s (default: all)")
    fit.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                     help="auto: a numeric target with more than 20 distinct values, or with "
                          "fractional values, is regression; anything else classification")
    fit.add_argument("-o", "--output", default="model.skd",
                     help="where to save the student (default: %(default)s)")
    fit.add_argument("--holdout", type=float, default=0.2, metavar="FRACTION",
                     help="fraction of rows held out for the summary; 0 trains on all rows "
                          "and skips the comparison (default: %(default)s)")
    fit.add_argument("--n-estimators", type=int, default=None, metavar="N",
                     help="trees or boosting rounds of the rf, et, xgb and lgbm teachers "
                          "(default: their own, 200-300); smaller fits faster")
    fit.add_argument("--cv", type=_folds, default="auto",
                     help="folds for cross-fitted soft targets, or 'auto' (5; fewer above "
                          "266,666 rows, 2 from 400,000) (default: %(default)s)")
    fit.add_argument("--max-epochs", type=int, default=None,
                     help="student training epochs at most "
                          f"(default: {_default('max_epochs')})")
    fit.add_argument("--student-time-limit", type=float, default=None, metavar="SECONDS",
                     help="stop the student's training before an epoch that would end past "
                          "this many seconds, keeping its best weights so far (default: "
                          "no limit)")
    fit.add_argument("--lr-schedule", choices=("plateau", "cosine"), default=None,
                     help="halve the student's learning rate on plateaus, or anneal it on a "
                          f"cosine (default: {_default('lr_schedule')})")
    fit.add_argument("--hidden", default=None, metavar="SIZES",
                     help="the student's hidden layer widths, comma-separated, or 'auto' "
                          f"(default: {_default('hidden_layer_sizes')})")
    fit.add_argument("--members", type=int, default=None, metavar="K",
                     help="members of the student's packed ensemble, 1 for a single network "
                          f"(default: {_default('n_members')})")
    fit.add_argument("--temperature", type=float, default=None, metavar="T",
                     help="distillation temperature, classification only "
                          f"(default: {_default('temperature')})")
    fit.add_argument("--alpha", type=float, default=None, metavar="A",
                     help="weight of the teachers' targets against the true labels, in "
                          f"[0, 1] (default: {_default('alpha')})")
    fit.add_argument("--refit", action="store_true",
                     help="after the held-out comparison, train teachers and student again "
                          "on all rows and save that model")
    fit.add_argument("--random-state", type=int, default=0)
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    fit.set_defaults(func=_cmd_fit)

    predict = sub.add_parser(
        "predict", help="predict the rows of a CSV file with a saved model",
        description="Predict every row of DATA.csv, whose columns are those of the training "
                    "file (the target column may be present and is ignored). Writes CSV.",
    )
    predict.add_argument("model", metavar="MODEL.skd")
    predict.add_argument("data", metavar="DATA.csv")
    predict.add_argument("-o", "--output", default=None,
                         help="where to write the predictions (default: stdout)")
    predict.add_argument("--proba", action="store_true",
                         help="also write one probability column per class")
    predict.add_argument("--sep", default=",", metavar="SEP",
                         help="field separator of DATA.csv (default: %(default)s)")
    predict.add_argument("--encoding", default="utf-8", metavar="ENC",
                         help="text encoding of DATA.csv (default: %(default)s)")
    predict.add_argument("--id", action="append", metavar="COL",
                         help="copy this column to the output, first; repeatable (default: "
                              "the --id columns given to fit, when present)")
    predict.add_argument("--ignore-extra", action="store_true",
                         help="ignore columns the model does not use instead of refusing "
                              "the file")
    predict.set_defaults(func=_cmd_predict)

    info = sub.add_parser(
        "info", help="show a saved model's classes, columns, size and training summary",
        description="Show a saved model's task, classes, input columns, student size and the "
                    "training summary recorded by fit.",
    )
    info.add_argument("model", metavar="MODEL.skd")
    info.set_defaults(func=_cmd_info)

    export = sub.add_parser(
        "export", help="export a saved model as an ONNX graph",
        description="Write the student as one ONNX graph (input encoding, MLP, softmax or "
                    "identity) over one float matrix. Models with categorical columns are "
                    "refused unless --encoded-input: the graph reads category codes, not "
                    "text.",
    )
    export.add_argument("model", metavar="MODEL.skd")
    export.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the file to write")
    export.add_argument("--encoded-input", action="store_true",
                        help="for models with categorical columns: export the graph over the "
                             "table's codes (a category's index in the schema stored in the "
                             "graph's 'table' metadata, -1 unseen, NaN empty)")
    export.set_defaults(func=_cmd_export)
    return parser


def main(argv=None):
    """Entry point of the ``skdistill`` console script.

    Returns the exit status: 0 on success, 1 on an error the user can fix (printed as
    one line on stderr), 2 on bad arguments (argparse's convention).

    Examples
    --------
    >>> from skdistill.cli import main
    >>> main(["info", "no-such-model.skd"])
    1
    """
    from ._persist import ModelFormatError
    from ._tabular import ColumnError

    parser = build_parser()
    args = parser.parse_args(argv)
    # Progress (INFO) and warnings go to stderr; --quiet keeps the warnings only.
    log_to_stderr(logging.WARNING if getattr(args, "quiet", False) else logging.INFO)
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (`skdistill info m.skd | head`): not an error to report.
        # Point stdout at devnull so that the interpreter's final flush stays quiet.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except (CLIError, ModelFormatError, ColumnError, FileNotFoundError, ValueError,
            OSError, ImportError) as exc:
        # Errors the user can fix: their own message says what to change.
        if os.environ.get("SKDISTILL_DEBUG"):
            raise
        print(f"skdistill: error: {_first_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        # Anything else is unexpected (a teacher's own TypeError, a bug): still one line
        # rather than a wall of traceback, with the way to see the traceback.
        if os.environ.get("SKDISTILL_DEBUG"):
            raise
        print(f"skdistill: error: {type(exc).__name__}: {_first_line(exc)} "
              "(set SKDISTILL_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
