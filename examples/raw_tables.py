"""Distill straight from a DataFrame with text categories and missing values.

No Pipeline: the default teachers read the table natively (XGBoost, LightGBM) or
through scikit-learn's imputer and one-hot encoder (forests, MLP), and the student
carries its own input layer, which imputes, flags missing values and one-hot encodes
the categories. The same model then predicts on new rows, saves to ``.skd``, and
exports to ONNX, where the graph reads the table's codes.
"""

import os
import tempfile
import warnings

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from skdistill import DistilledClassifier, load, save

rng = np.random.default_rng(0)
n = 1500
customers = pd.DataFrame({
    "age": rng.normal(40, 12, n).round(),
    "monthly_spend": rng.lognormal(4, 0.6, n).round(2),
    "city": rng.choice(["Oslo", "Paris", "Rome", "Lima"], n, p=[0.4, 0.3, 0.2, 0.1]),
    "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], n)),
})
churn_score = ((customers["age"] < 30) * 1.5 + (customers["city"] == "Rome") * 1.2
               - (customers["plan"] == "pro") * 1.0
               + np.log(customers["monthly_spend"]) - 4 + rng.logistic(size=n) * 0.6)
churned = np.where(churn_score > 0.5, "yes", "no")
# Real tables have holes: some ages and cities were never recorded.
customers.loc[rng.random(n) < 0.15, "age"] = np.nan
customers.loc[rng.random(n) < 0.05, "city"] = None

X_train, X_test, y_train, y_test = train_test_split(customers, churned, random_state=0)
model = DistilledClassifier(random_state=0, keep_teachers=True).fit(X_train, y_train)

print(model.table_)  # which columns the model reads as categories
teacher = model.classes_[model.teacher_predict_proba(X_test).argmax(axis=1)]
print(f"teachers' accuracy: {np.mean(teacher == y_test):.3f}")
print(f"student's accuracy: {model.score(X_test, y_test):.3f}")
print(f"student agrees with its teachers on {np.mean(model.predict(X_test) == teacher):.1%}")

# A new customer: a missing age is imputed, an unknown city is counted in a warning.
new = pd.DataFrame({"age": [np.nan], "monthly_spend": [80.0], "city": ["Berlin"],
                    "plan": ["pro"]})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print(f"new customer churns with probability {model.predict_proba(new)[0, 1]:.2f}")
print(caught[0].message)

# The schema travels with the model: .skd files and ONNX graphs.
path = save(model, os.path.join(tempfile.mkdtemp(), "churn.skd"))
assert np.array_equal(load(path).predict_proba(X_test), model.predict_proba(X_test))
try:
    import onnxruntime as ort

    from skdistill import to_onnx
except ImportError:
    print("onnxruntime is not installed; skipping the ONNX export")
else:
    session = ort.InferenceSession(to_onnx(model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    codes = model.table_.encode(X_test).astype(np.float32)  # the graph's input
    gap = np.abs(session.run(None, {"X": codes})[0] - model.predict_proba(X_test)).max()
    print(f"ONNX vs predict_proba: max difference {gap:.1e}")
