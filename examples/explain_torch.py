"""Explain the student's predictions with torch: attributions on the raw input columns.

``skdistill.to_torch(model)`` returns the fitted student as a ``torch.nn.Module`` that
takes the raw columns (its first layer standardizes them) and returns the logits, equal
to the numpy student's within float32 rounding. Any torch attribution method applies:

- with Captum installed (``pip install skdistill[explain]``): Integrated Gradients,
  whose attributions add up to ``f(x) - f(baseline)`` for each row;
- without it: gradient x (input - baseline), computed with plain autograd.

The attributions are for the student; by construction it mimics its teachers, so they
describe the ensemble's behaviour as far as the student's fidelity goes.
"""

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skdistill
from skdistill import DistilledClassifier

data = load_breast_cancer()
X_train, X_test, y_train, y_test = train_test_split(
    data.data, data.target, stratify=data.target, random_state=0)
model = DistilledClassifier(
    teachers=[("rf", RandomForestClassifier(n_estimators=100, random_state=0)),
              ("lr", make_pipeline(StandardScaler(), LogisticRegression()))],
    hidden_layer_sizes=(64, 32), max_epochs=40, random_state=0,
).fit(X_train, y_train)
print(f"test accuracy {model.score(X_test, y_test):.3f}")

net = skdistill.to_torch(model)  # eval mode, float32, raw inputs
x = torch.as_tensor(X_test[:50], dtype=torch.float32)
baseline = torch.as_tensor(X_train.mean(axis=0, keepdims=True), dtype=torch.float32)
with torch.no_grad():
    proba = torch.softmax(net(x), dim=1).numpy()
print(f"max |softmax(module) - predict_proba| = "
      f"{np.abs(proba - model.predict_proba(X_test[:50])).max():.1e}")

target = 1  # attribute the logit of class model.classes_[1] ("benign")
try:
    from captum.attr import IntegratedGradients
except ImportError:
    method = "gradient x (input - baseline), plain torch (captum is not installed)"
    x.requires_grad_(True)
    net(x)[:, target].sum().backward()
    attributions = (x.grad * (x - baseline)).detach().numpy()
else:
    method = "Captum IntegratedGradients"
    ig = IntegratedGradients(net)
    attr, delta = ig.attribute(x, baselines=baseline, target=target, n_steps=64,
                               return_convergence_delta=True)
    attributions = attr.detach().numpy()
    print(f"completeness: largest |sum(attributions) - (f(x) - f(baseline))| = "
          f"{delta.abs().max().item():.1e}")

importance = np.abs(attributions).mean(axis=0)
print(f"{method}: mean |attribution| on the '{data.target_names[target]}' logit")
for j in np.argsort(importance)[::-1][:8]:
    print(f"  {data.feature_names[j]:<24} {importance[j]:.3f}")
