#!/usr/bin/env python3
"""Saves the tutorial's model as an MLflow model: scikit-learn StandardScaler + LogisticRegression
fitted on a CSV, with a signature, for `mlflow models serve` in scripts/bench/serve.sh.

    python scripts/bench/serve.py data/sample.csv OUT_DIR
"""
import sys

import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

FEATURES = [f"V{i}" for i in range(1, 29)] + ["Amount"]

df = pd.read_csv(sys.argv[1])
X, y = df[FEATURES], df["Class"]
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
mlflow.sklearn.save_model(model, sys.argv[2], signature=infer_signature(X, model.predict(X)))
