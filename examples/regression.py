"""Distill a regression ensemble with DistilledRegressor.

The student learns the teachers' averaged prediction (out-of-fold, like the
classifier's soft targets) mixed with the true target:
``alpha * MSE(student, teacher) + (1 - alpha) * MSE(student, y)`` on standardized
targets. ``alpha=0`` trains the same network on the true targets alone, the baseline
that shows what the teachers add.
"""

from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from skdistill import DistilledRegressor, fidelity_scorer

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

teachers = [
    ("rf", RandomForestRegressor(n_estimators=100, min_samples_leaf=3, random_state=0)),
    ("ridge", RidgeCV()),
]
model = DistilledRegressor(teachers=teachers, hidden_layer_sizes=(64, 32),
                           keep_teachers=True, random_state=0).fit(X_train, y_train)
baseline = DistilledRegressor(teachers=teachers, hidden_layer_sizes=(64, 32),
                              alpha=0.0, random_state=0).fit(X_train, y_train)

print(f"teachers (R^2 on test):        {r2_score(y_test, model.teacher_predict(X_test)):.3f}")
print(f"distilled student:             {model.score(X_test, y_test):.3f}")
print(f"same student on y alone:       {baseline.score(X_test, y_test):.3f}")
print(f"student vs teachers (R^2 of the student's predictions against the teachers'): "
      f"{fidelity_scorer(model, X_test):.3f}")
print(f"predictions for 3 rows: {model.predict(X_test[:3]).round(1)}")
