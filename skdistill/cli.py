"""The ``skdistill`` command line: demo, fit, predict, info and export.

Progress goes to stderr and results to stdout, so ``skdistill predict ... > out.csv``
and pipes stay clean. Errors a user can fix (a missing column, a corrupt model file)
print one ``skdistill: error: ...`` line and exit with status 1, without a traceback;
set ``SKDISTILL_DEBUG=1`` to see the traceback anyway.
"""

import argparse
import contextlib
import json
import os
import sys
import time

from ._base import drop_teachers
from ._measure import format_bytes, format_seconds

TEACHER_NAMES = ("rf", "et", "xgb", "lgbm", "mlp")


class CLIError(Exception):
    """An error the user can fix; printed as one line."""


def _progress(args, message):
    if not args.quiet:
        print(message, file=sys.stderr, flush=True)


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


def _ratio(teacher, student, better, worse):
    """How the student compares, e.g. ``"12x smaller"`` or ``"1.3x larger"``."""
    if teacher <= 0 or student <= 0:
        return ""
    r = teacher / student
    word = better if r >= 1 else worse
    r = r if r >= 1 else 1 / r
    return f"{r:.1f}x {word}" if r < 10 else f"{r:.0f}x {word}"


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


def _cmd_fit(args):
    import numpy as np
    from sklearn.model_selection import train_test_split

    from ._measure import pickled_size, single_row_latency
    from ._persist import save
    from ._tabular import TableEncoder, detect_task, encode_target, read_csv

    wanted = _teacher_names(args.teachers)  # fail before any slow step
    if not 0 <= args.holdout < 1:
        raise CLIError(f"--holdout must lie in [0, 1); got {args.holdout}.")
    _check_output_path(args.output)
    frame = read_csv(args.train)
    _check_has_rows(frame, args.train)
    if args.target not in frame.columns:
        raise CLIError(f"target column {args.target!r} is not in {args.train!r}; its columns "
                       f"are {', '.join(map(repr, frame.columns))}.")
    target = frame.pop(args.target)
    if target.isna().any():
        raise CLIError(f"target column {args.target!r} has {int(target.isna().sum())} empty "
                       "cell(s); remove those rows or fill them.")
    if frame.shape[1] == 0:
        raise CLIError(f"{args.train!r} has no feature columns besides the target.")
    task = detect_task(target) if args.task == "auto" else args.task
    y = encode_target(target, task)
    encoder = TableEncoder.fit(frame)
    X = encoder.transform(frame)
    _progress(args, f"Read {len(frame)} rows: {frame.shape[1]} columns "
                    f"({len(encoder.categorical_columns)} categorical, one-hot to "
                    f"{X.shape[1]} features); task: {task}.")

    stratify = None
    if task == "classification":
        _, counts = np.unique(y, return_counts=True)
        stratify = y if counts.min() >= 2 else None
    if args.holdout > 0:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=args.holdout, stratify=stratify, random_state=args.random_state)
    else:
        X_train, y_train, X_test, y_test = X, y, None, None

    teachers = _teachers(wanted, task, args.n_estimators, args.random_state)
    params = dict(teachers=teachers, cv=args.cv, max_epochs=args.max_epochs,
                  keep_teachers=X_test is not None, random_state=args.random_state,
                  verbose=0 if args.quiet else 1)
    if task == "classification":
        from ._classifier import DistilledClassifier as Model
    else:
        from ._regressor import DistilledRegressor as Model
    model = Model(**params)
    _progress(args, f"Fitting teachers ({', '.join(n for n, _ in teachers)}) with "
                    f"{args.cv}-fold cross-fitted soft targets on {len(X_train)} rows, then "
                    "the student (one line per epoch)...")
    start = time.perf_counter()
    # The estimator prints its epoch lines on stdout; send them to stderr with the rest of
    # the progress, so stdout holds only the summary.
    with contextlib.redirect_stdout(sys.stderr):
        model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    _progress(args, f"Done in {fit_seconds:.1f} s (teachers "
                    f"{model.fit_info_['teacher_fit_seconds']:.1f} s, student "
                    f"{model.fit_info_['student_fit_seconds']:.1f} s, "
                    f"{model.n_iter_} epochs).")

    summary = {"task": task, "n_train_rows": int(len(X_train)),
               "n_holdout_rows": 0 if X_test is None else int(len(X_test)),
               "teachers": [n for n, _ in teachers], "fit_seconds": fit_seconds}
    if X_test is not None:
        summary.update(_holdout_summary(model, X_test, y_test, task,
                                        pickled_size, single_row_latency))
        drop_teachers(model)  # the saved model never carries teachers
        model.keep_teachers = False
    metadata = {"tabular": encoder.to_dict(), "target": args.target,
                "source": os.path.basename(args.train), "summary": summary}
    path = save(model, args.output, metadata=metadata)
    summary["student_file_bytes"] = path.stat().st_size
    print(_summary_table(summary))
    print(f"Saved the student to {path} ({format_bytes(path.stat().st_size)}).")
    return 0


def _holdout_summary(model, X_test, y_test, task, pickled_size, single_row_latency):
    import numpy as np

    if task == "classification":
        teacher_out = model.teacher_predict_proba(X_test)
        teacher_pred = model.classes_[teacher_out.argmax(axis=1)]
        student_pred = model.predict(X_test)
        t_score = float(np.mean(teacher_pred == y_test))
        s_score = float(np.mean(student_pred == y_test))
        fidelity = float(np.mean(student_pred == teacher_pred))
        teacher_fn, student_fn = model.teacher_predict_proba, model.predict_proba
    else:
        from sklearn.metrics import r2_score

        teacher_pred = model.teacher_predict(X_test)
        student_pred = model.predict(X_test)
        t_score = float(r2_score(y_test, teacher_pred))
        s_score = float(r2_score(y_test, student_pred))
        fidelity = float(r2_score(teacher_pred, student_pred))
        teacher_fn, student_fn = model.teacher_predict, model.predict
    return {
        "metric": "accuracy" if task == "classification" else "r2",
        "teacher_score": t_score, "student_score": s_score, "fidelity": fidelity,
        "teacher_bytes": pickled_size(model.teachers_),
        "student_bytes": pickled_size(model.student_),
        "teacher_latency_s": single_row_latency(teacher_fn, X_test, n_calls=50, warmup=5),
        "student_latency_s": single_row_latency(student_fn, X_test, n_calls=200),
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
        ("size (pickled weights)", format_bytes(s["teacher_bytes"]),
         format_bytes(s["student_bytes"]),
         _ratio(s["teacher_bytes"], s["student_bytes"], "smaller", "larger")),
        ("single-row latency", format_seconds(s["teacher_latency_s"]),
         format_seconds(s["student_latency_s"]),
         _ratio(s["teacher_latency_s"], s["student_latency_s"], "faster", "slower")),
    ]
    title = (f"Held-out comparison on {s['n_holdout_rows']} rows "
             f"(trained on {s['n_train_rows']}):")
    return title + "\n" + _table(rows, ("", "teachers", "student", "difference"))


# -- predict --------------------------------------------------------------------------
def _load_with_encoder(path):
    from ._persist import ModelFormatError, load
    from ._tabular import TableEncoder

    try:
        model, metadata = load(path, return_metadata=True)
        metadata = metadata or {}
        encoder = (TableEncoder.from_dict(metadata["tabular"]) if "tabular" in metadata
                   else None)
    except (ModelFormatError, OSError):
        raise  # already a clear message: a corrupt file, a missing file
    except Exception as exc:
        # load() is meant to raise only ModelFormatError; anything else from a damaged or
        # foreign file is still the file's fault, not a bug to show a traceback for.
        if os.environ.get("SKDISTILL_DEBUG"):
            raise
        raise CLIError(f"{str(path)!r} is not a readable skdistill model "
                       f"({type(exc).__name__}: {exc}).") from exc
    if encoder is None:
        # A model saved from Python: its inputs are the numeric features themselves.
        import numpy as np

        names = getattr(model, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(model.n_features_in_)]
        encoder = TableEncoder([{"name": str(n), "kind": "numeric", "fill": float("nan")}
                                for n in np.asarray(names).tolist()])
    return model, encoder, metadata


def _cmd_predict(args):
    import numpy as np
    import pandas as pd

    from ._tabular import read_csv

    if args.output:
        _check_output_path(args.output)
    model, encoder, metadata = _load_with_encoder(args.model)
    frame = read_csv(args.data)
    _check_has_rows(frame, args.data)
    target = metadata.get("target")
    X = encoder.transform(frame, ignore=[target] if target else ())
    if np.isnan(X).any():
        raise CLIError("the data has empty cells and the model stores no fill values; "
                       "fill them before predicting.")
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        # A model fitted on a DataFrame in Python checks column names at predict time.
        X = pd.DataFrame(X, columns=list(names))
    out = pd.DataFrame(index=frame.index)
    name = f"predicted_{target}" if target else "prediction"
    out[name] = model.predict(X)
    if args.proba:
        if model._task != "classification":
            raise CLIError("--proba needs a classifier; this model is a regressor.")
        proba = model.predict_proba(X)
        for j, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, j]
    if args.output:
        out.to_csv(args.output, index=False)
        print(f"Wrote {len(out)} predictions to {args.output}.", file=sys.stderr)
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


# -- info -----------------------------------------------------------------------------
def _cmd_info(args):
    from ._persist import read_header

    header = read_header(args.model)
    model, encoder, metadata = _load_with_encoder(args.model)
    student = model.student_
    lines = [
        f"Model: {header['estimator']} ({header['task']}), saved by skdistill "
        f"{header['skdistill_version']}, format version {header['format_version']}.",
        f"File: {args.model}, {format_bytes(os.path.getsize(args.model))}; student "
        f"{'-'.join(map(str, student.layer_sizes))}, activation {student.activation}, "
        f"{student.n_parameters} parameters ({format_bytes(student.nbytes)} of float32).",
    ]
    if header["task"] == "classification":
        lines.append(f"Classes ({len(model.classes_)}): "
                     f"{', '.join(map(str, model.classes_.tolist()))}")
    if metadata.get("target"):
        lines.append(f"Target column: {metadata['target']}"
                     + (f" (trained from {metadata['source']})" if metadata.get("source") else ""))
    lines.append(f"Input columns ({len(encoder.columns)}):")
    for c in encoder.columns:
        if c["kind"] == "numeric":
            lines.append(f"  {c['name']}: numeric")
        else:
            cats = c["categories"]
            shown = ", ".join(cats[:8]) + (", ..." if len(cats) > 8 else "")
            lines.append(f"  {c['name']}: categorical, {len(cats)} categories ({shown})")
    teachers = header.get("teacher_names") or (metadata.get("summary") or {}).get("teachers")
    if teachers:
        lines.append(f"Teachers (not stored): {', '.join(teachers)}")
    info = model.fit_info_
    lines.append(f"Training: {model.n_iter_} epochs, best epoch {info.get('best_epoch')}, "
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

    _check_output_path(args.onnx, option="--onnx")
    model, encoder, metadata = _load_with_encoder(args.model)
    if encoder.categorical_columns and not args.encoded_input:
        raise CLIError(
            f"{args.model} has categorical column(s) "
            f"{', '.join(map(repr, encoder.categorical_columns))}, which the ONNX graph cannot "
            "encode (it takes one float matrix). Pass --encoded-input to export the graph over "
            f"the {len(encoder.feature_names)} one-hot encoded features instead; their names "
            "are stored in the graph's metadata (feature_names)."
        )
    # The graph's input is the encoded matrix: record which columns it holds, in order.
    to_onnx(model, args.onnx, metadata={"feature_names": json.dumps(encoder.feature_names),
                                        "input_columns": json.dumps(encoder.input_columns)})
    print(f"Wrote {args.onnx}: input X float32 [n, {len(encoder.feature_names)}] in the order "
          f"of the feature_names metadata.", file=sys.stderr)
    return 0


# -- parser ---------------------------------------------------------------------------
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
    demo.add_argument("-o", "--output", default="skdistill-demo-student.pkl",
                      help="where to save the student (default: %(default)s)")
    demo.add_argument("--random-state", type=int, default=0)
    demo.set_defaults(func=_cmd_demo)

    fit = sub.add_parser(
        "fit", help="fit teachers and a student on a CSV file and save the student",
        description="Fit the teacher ensemble on TRAIN.csv, distill it into a student, print "
                    "teacher vs student accuracy, fidelity, size and latency on a held-out "
                    "split, and save the student (without teachers) in the safe .skd format. "
                    "Numeric columns are used as they are (empty cells get the training "
                    "median); text columns are one-hot encoded. The encoding is stored in "
                    "the model, so predict takes raw rows.",
    )
    fit.add_argument("train", metavar="TRAIN.csv", help="training data with a header row")
    fit.add_argument("--target", required=True, metavar="COL", help="the column to predict")
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
    fit.add_argument("--cv", type=int, default=5, help="folds for cross-fitted soft targets "
                                                       "(default: %(default)s)")
    fit.add_argument("--max-epochs", type=int, default=200,
                     help="student training epochs at most (default: %(default)s)")
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
        description="Write the student as one ONNX graph (standardization, MLP, softmax or "
                    "identity). Models with categorical columns are refused unless "
                    "--encoded-input: the graph does not one-hot encode text.",
    )
    export.add_argument("model", metavar="MODEL.skd")
    export.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the file to write")
    export.add_argument("--encoded-input", action="store_true",
                        help="for models with categorical columns: export the graph over the "
                             "one-hot encoded features")
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
