"""A whole Pipeline as one ONNX graph, and a teacher-free pickle for serving.

Mixed columns: numbers with missing values (imputed, scaled) and strings (one-hot
encoded), then a DistilledClassifier whose teacher is a prefit LightGBM model.

1. ``skdistill.serving(pipeline)`` keeps the fitted preprocessing, slims the last step
   (the teachers are dropped, their names kept): the pickle is the student's arrays, and
   it loads without torch, lightgbm or xgboost.
2. ``skdistill.register_skl2onnx()`` registers skdistill's converters with skl2onnx;
   ``skl2onnx.to_onnx(pipeline, X_sample)`` then exports preprocessing and student as
   ONE graph, which onnxruntime runs on the raw columns.

Needs the ``onnx`` extra (onnx, onnxruntime, skl2onnx) and pandas.
"""

import pickle
import sys

import numpy as np

try:
    import onnxruntime as ort
    import pandas as pd
    import skl2onnx
except ImportError as exc:  # the example needs the optional extras
    print(f"skipped: {exc}. pip install skdistill[onnx] pandas")
    sys.exit(0)

from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import skdistill
from skdistill import DistilledClassifier

# -- mixed data: 3 numeric columns with 10% missing, 2 string columns --------------------
rng = np.random.default_rng(0)
n = 2000
df = pd.DataFrame({
    "age": rng.normal(40, 12, n), "income": rng.lognormal(10, 1, n),
    "tenure": rng.uniform(0, 10, n),
    "city": rng.choice(["Paris", "Lyon", "Nice", "Lille"], n),
    "plan": rng.choice(["basic", "pro", "team"], n),
})
logit = (0.05 * (df["age"] - 40) - 0.3 * df["tenure"] + 1.2 * (df["plan"] == "basic")
         + 0.8 * (df["city"] == "Nice") + rng.normal(0, 1, n))
y = np.where(logit > 0, "churn", "stay")
numeric, categorical = ["age", "income", "tenure"], ["city", "plan"]
for col in numeric:
    df.loc[rng.random(n) < 0.1, col] = np.nan
# The ONNX graph reads float32 numbers; giving the Pipeline the same float32 columns
# makes both sides see identical inputs.
df[numeric] = df[numeric].astype(np.float32)

preprocess = ColumnTransformer([
    ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
    ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
])
# A teacher that was fitted elsewhere: FrozenEstimator uses it as it is.
booster = LGBMClassifier(n_estimators=300, verbose=-1, random_state=0)
booster.fit(preprocess.fit_transform(df), y)
pipe = make_pipeline(preprocess, DistilledClassifier(
    teachers=[("lgbm", FrozenEstimator(booster))], hidden_layer_sizes=(64, 32),
    max_epochs=30, random_state=0)).fit(df, y)
print(f"train accuracy {pipe.score(df, y):.3f}; student {pipe[-1].student_}")

# -- 1. the serving copy ---------------------------------------------------------------
slim = skdistill.serving(pipe)
full_size, slim_size = len(pickle.dumps(pipe)), len(pickle.dumps(slim))
weights = pipe[-1].student_.nbytes
preprocessing = len(pickle.dumps(pipe[:-1]))
print(f"pickle: {full_size:,} B with the LightGBM teacher, {slim_size:,} B served "
      f"({weights:,} B of float32 weights + {preprocessing:,} B of preprocessing)")
print(f"served teachers parameter: {slim[-1].teachers}")
assert np.array_equal(slim.predict_proba(df), pipe.predict_proba(df))

# -- 2. one ONNX graph: imputer, scaler, one-hot encoder, student -----------------------
skdistill.register_skl2onnx()
proto = skl2onnx.to_onnx(pipe, df[:1], options={id(pipe[-1]): {"zipmap": False}})
print(f"ONNX inputs {[i.name for i in proto.graph.input]}, "
      f"outputs {[o.name for o in proto.graph.output]}, {len(proto.graph.node)} nodes")

session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
feeds = {c: df[[c]].to_numpy() for c in numeric}  # one (n, 1) input per column
feeds.update({c: df[[c]].to_numpy().astype(object) for c in categorical})
label, proba = session.run(None, feeds)
diff = np.abs(proba - pipe.predict_proba(df)).max()
print(f"max |onnxruntime - predict_proba| = {diff:.1e}; labels agree: "
      f"{np.array_equal(label, pipe.predict(df))}; first labels {label[:3].tolist()}")
assert diff <= 1e-5
