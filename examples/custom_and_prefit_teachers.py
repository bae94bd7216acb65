"""Choose the teachers: your own estimators, and a model you have already fitted.

- Any classifier with ``predict_proba`` can teach, including a Pipeline. An SVC gets
  probabilities from ``CalibratedClassifierCV`` (``SVC(probability=True)`` is deprecated
  since scikit-learn 1.9).
- A model that is already fitted is wrapped in ``sklearn.frozen.FrozenEstimator``: it is
  used as it is, never cloned or refitted. It cannot be cross-fitted, so it labels the
  training rows in-sample; fit it on other rows when you can (here, a separate split).
- ``teacher_weights`` weighs the teachers' probability average.
- Nested parameters reach each teacher by name: ``teachers__svc__C``.
"""

from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from skdistill import DistilledClassifier, fidelity_score

X, y = load_digits(return_X_y=True)
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.25, stratify=y,
                                                  random_state=0)
# The "production model you already have", trained earlier on its own rows.
X_old, X_train, y_old, y_train = train_test_split(X_rest, y_rest, test_size=0.5,
                                                  stratify=y_rest, random_state=0)
existing = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X_old, y_old)
print(f"existing model, test accuracy:  {existing.score(X_test, y_test):.3f}")

model = DistilledClassifier(
    teachers=[
        ("existing", FrozenEstimator(existing)),
        ("svc", make_pipeline(StandardScaler(),
                              CalibratedClassifierCV(SVC(random_state=0), ensemble=False))),
    ],
    teacher_weights=[1.0, 2.0],   # trust the SVC twice as much
    cv=3,
    keep_teachers=True,
    random_state=0,
)
model.set_params(teachers__svc__calibratedclassifiercv__estimator__C=3.0)  # as in GridSearchCV
model.fit(X_train, y_train)

teacher_proba = model.teacher_predict_proba(X_test)
student_proba = model.predict_proba(X_test)
teacher_acc = (model.classes_[teacher_proba.argmax(axis=1)] == y_test).mean()
print(f"teacher ensemble, test accuracy: {teacher_acc:.3f}")
print(f"student, test accuracy:         {model.score(X_test, y_test):.3f}")
print(f"fidelity (student agrees with the teachers): "
      f"{fidelity_score(teacher_proba, student_proba):.3f}")

# The frozen teacher is the very object passed in: it was neither cloned nor refitted.
assert model.named_teachers_["existing"].estimator is existing
