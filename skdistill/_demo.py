"""The main job in one command: distill the default ensemble and show what it buys."""

import pickle
import time
from pathlib import Path

import numpy as np

from ._base import without_teachers
from ._measure import format_bytes, format_seconds


def run_demo(output="skdistill-demo-student.pkl", random_state=0, out=print):
    """Distill the default teacher ensemble on scikit-learn's digits data and report.

    Fits ``DistilledClassifier()`` with the default ensemble and the same student
    architecture on hard labels (``alpha=0``), then prints accuracy, fidelity, pickle
    size and single-row latency of the teacher and the student, side by side, and
    saves the student.

    Parameters
    ----------
    output : str or path
        Where the fitted student is pickled.
    random_state : int
    out : callable
        Receives each output line.

    Returns
    -------
    dict
        The numbers in the table.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from ._classifier import DistilledClassifier
    from ._measure import pickled_size, single_row_latency

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=random_state
    )
    out(f"Data: scikit-learn digits, {X_train.shape[0]} training and {X_test.shape[0]} test "
        f"rows, {X.shape[1]} features, {len(np.unique(y))} classes.")
    out("Fitting the default teacher ensemble (RF, ET, XGBoost, LightGBM, MLP) and "
        "distilling it into the student...")
    start = time.perf_counter()
    student = DistilledClassifier(keep_teachers=True, random_state=random_state)
    student.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - start
    out("Training the same student architecture on the hard labels alone (alpha=0)...")
    hard = DistilledClassifier(alpha=0.0, random_state=random_state).fit(X_train, y_train)

    teacher_proba = student.teacher_predict_proba(X_test)
    teacher_pred = student.classes_[teacher_proba.argmax(axis=1)]
    student_pred = student.predict(X_test)
    teachers = student.teachers_
    # The shipped student carries no teachers: measure the model a user would deploy.
    deployed = without_teachers(student)

    results = {
        "teacher_accuracy": float(np.mean(teacher_pred == y_test)),
        "student_accuracy": float(np.mean(student_pred == y_test)),
        "hard_label_accuracy": float(np.mean(hard.predict(X_test) == y_test)),
        "fidelity": float(np.mean(student_pred == teacher_pred)),
        "teacher_bytes": pickled_size(teachers),
        "student_bytes": pickled_size(deployed),
        "teacher_latency": single_row_latency(student.teacher_predict_proba, X_test, n_calls=200),
        "student_latency": single_row_latency(deployed.predict_proba, X_test, n_calls=200),
        "fit_seconds": fit_seconds,
    }
    r = results
    rows = [
        ("accuracy", f"{r['teacher_accuracy']:.4f}", f"{r['student_accuracy']:.4f}",
         f"{r['student_accuracy'] / r['teacher_accuracy']:.3f}x kept"),
        ("hard-label student accuracy", "", f"{r['hard_label_accuracy']:.4f}",
         f"{r['student_accuracy'] - r['hard_label_accuracy']:+.4f} from distilling"),
        ("fidelity (agrees with teacher)", "", f"{r['fidelity']:.4f}", ""),
        ("pickle size", format_bytes(r["teacher_bytes"]), format_bytes(r["student_bytes"]),
         f"{r['teacher_bytes'] / r['student_bytes']:.0f}x smaller"),
        ("single-row predict_proba", format_seconds(r["teacher_latency"]),
         format_seconds(r["student_latency"]),
         f"{r['teacher_latency'] / r['student_latency']:.0f}x faster"),
    ]
    header = ("", "teacher", "student", "ratio")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(4)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out("")
    out(line.format(*header))
    out(line.format(*("-" * w for w in widths)))
    for row in rows:
        out(line.format(*row))
    out("")
    path = Path(output)
    with open(path, "wb") as fh:
        pickle.dump(deployed, fh, protocol=pickle.HIGHEST_PROTOCOL)
    out(f"Saved the student to {path} ({format_bytes(path.stat().st_size)}); "
        f"the whole run took {fit_seconds:.0f} s to fit.")
    return results
