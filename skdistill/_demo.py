"""The main job in one command: distill the default ensemble and show what it buys."""

import logging
import time
from pathlib import Path

import numpy as np

from ._measure import format_bytes, format_ratio, format_seconds
from ._progress import log_to_stderr, logger


def run_demo(output="skdistill-demo-student.skd", random_state=0, out=print, verbose=1):
    """Distill the default teacher ensemble on scikit-learn's digits data and report.

    Fits ``DistilledClassifier()`` with the default ensemble and the same student
    architecture on hard labels (``alpha=0``), then prints accuracy, fidelity, size and
    single-row latency of the teachers and the student, side by side, and saves the
    student (without teachers) in the safe ``.skd`` format (:func:`skdistill.save`).

    Every figure comes from :func:`skdistill.DistillationReport` (``model.report``), so
    the demo, the report and the command line print the same numbers for the same model
    and rows. Progress goes to stderr through the ``"skdistill"`` logger.

    Parameters
    ----------
    output : str or path
        Where the fitted student is saved (``.skd``).
    random_state : int
    out : callable
        Receives each line of the result table.
    verbose : int, default=1
        Progress of the teacher fits and student epochs (0: none).

    Returns
    -------
    dict
        The numbers in the table, the report (``"report"``, its ``to_dict()``) and the
        saved file (``"path"``).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from ._classifier import DistilledClassifier
    from ._persist import save

    if verbose:
        log_to_stderr(logging.INFO)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=random_state
    )
    logger.info(f"Data: scikit-learn digits, {X_train.shape[0]} training and "
                f"{X_test.shape[0]} test rows, {X.shape[1]} features, "
                f"{len(np.unique(y))} classes.")
    logger.info("Fitting the default teacher ensemble (RF, ET, XGBoost, LightGBM, MLP) and "
                "distilling it into the student...")
    start = time.perf_counter()
    student = DistilledClassifier(keep_teachers=True, random_state=random_state,
                                  verbose=verbose)
    student.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    logger.info("Training the same student architecture on the hard labels alone "
                "(alpha=0)...")
    hard = DistilledClassifier(alpha=0.0, random_state=random_state,
                               verbose=verbose).fit(X_train, y_train)
    logger.info("Measuring teachers and student on the test rows...")
    report = student.report(X_test, y_test).to_dict()

    accuracy = report["metrics"]["accuracy"]
    results = {
        "teacher_accuracy": accuracy["teacher"],
        "student_accuracy": accuracy["student"],
        "hard_label_accuracy": float(np.mean(hard.predict(X_test) == y_test)),
        "fidelity": report["fidelity"],
        "teacher_bytes": report["sizes"]["teacher_bytes"],
        "student_bytes": report["sizes"]["student_bytes"],
        "teacher_latency": report["latency"]["teacher_seconds"],
        "student_latency": report["latency"]["student_seconds"],
        "fit_seconds": fit_seconds,
    }
    for text in _result_table(results):
        out(text)
    out("")
    path = save(student, Path(output))  # save() never stores the teachers
    out(f"Saved the student to {path} ({format_bytes(path.stat().st_size)}, the safe .skd "
        f"format; load it with skdistill.load). Fitting took {fit_seconds:.0f} s.")
    results["report"] = report
    results["path"] = str(path)
    return results


def _result_table(r):
    """The demo's table of teacher against student, line by line."""
    rows = [
        ("accuracy", f"{r['teacher_accuracy']:.4f}", f"{r['student_accuracy']:.4f}",
         f"{r['student_accuracy'] / r['teacher_accuracy']:.3f}x kept"),
        ("hard-label student accuracy", "", f"{r['hard_label_accuracy']:.4f}",
         f"{r['student_accuracy'] - r['hard_label_accuracy']:+.4f} from distilling"),
        ("fidelity (agrees with teacher)", "", f"{r['fidelity']:.4f}", ""),
        ("size (pickle, as shipped)", format_bytes(r["teacher_bytes"]),
         format_bytes(r["student_bytes"]),
         format_ratio(r["teacher_bytes"], r["student_bytes"], "smaller", "larger")),
        ("single-row predict_proba", format_seconds(r["teacher_latency"]),
         format_seconds(r["student_latency"]),
         format_ratio(r["teacher_latency"], r["student_latency"], "faster", "slower")),
    ]
    header = ("", "teacher", "student", "ratio")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return ["", line.format(*header).rstrip(), line.format(*("-" * w for w in widths)),
            *(line.format(*row).rstrip() for row in rows)]
