#!/usr/bin/env python3
"""Quality and speed of `fraud train` against scikit-learn, on identical data, in one run.

Quality: for each seed, a stratified 70/30 split of the full data is written to CSV files;
`fraud train --test-size 0` fits on the training file and `fraud evaluate` scores the test
file; scikit-learn fits StandardScaler + LogisticRegression on the same training file, with the
threshold chosen the same way (best F1 on the training rows' own predictions), and the
tutorial's untuned recipe (threshold 0.5) is reported too. Means over the seeds.

Speed: wall time of `fraud train --csv FULL` end to end (read, split, fit, metrics, save)
against scikit-learn's read_csv + scale + fit on the same file, alternating, medians of N runs.

    scripts/bench-train.sh [--seeds 5] [--runs 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

FEATURES = [f"V{i}" for i in range(1, 29)] + ["Amount"]


def run_json(args):
    out = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def sklearn_fit(train):
    scaler = StandardScaler().fit(train[FEATURES].values)
    model = LogisticRegression().fit(scaler.transform(train[FEATURES].values), train["Class"].values)
    return scaler, model


def best_f1_threshold(y, p):
    precision, recall, thresholds = precision_recall_curve(y, p)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0)
    return thresholds[int(np.argmax(f1[:-1]))]


def quality(fraud, full, seeds, tmp):
    df = pd.read_csv(full)
    rows = []
    for seed in range(1, seeds + 1):
        train, test = train_test_split(df, test_size=0.3, stratify=df["Class"], random_state=seed)
        train_csv, test_csv = os.path.join(tmp, "train.csv"), os.path.join(tmp, "test.csv")
        train.to_csv(train_csv, index=False)
        test.to_csv(test_csv, index=False)
        model_dir = os.path.join(tmp, "model")
        run_json([fraud, "train", "--csv", train_csv, "--test-size", "0", "--model-dir", model_dir, "--json"])
        ours = run_json([fraud, "evaluate", "--csv", test_csv, "--model-dir", model_dir, "--json"])

        scaler, model = sklearn_fit(train)
        y_train, y_test = train["Class"].values, test["Class"].values
        p_train = model.predict_proba(scaler.transform(train[FEATURES].values))[:, 1]
        p_test = model.predict_proba(scaler.transform(test[FEATURES].values))[:, 1]
        t = best_f1_threshold(y_train, p_train)
        rows.append({
            "seed": seed,
            "fraud_f1": ours["f1"], "fraud_auprc": ours["auprc"], "fraud_f1_at_0.5": ours["at_0_5"]["f1"],
            "sklearn_f1": f1_score(y_test, p_test >= t), "sklearn_auprc": average_precision_score(y_test, p_test),
            "sklearn_f1_at_0.5": f1_score(y_test, p_test >= 0.5),
        })
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def time_sklearn(full):
    start = time.perf_counter()
    df = pd.read_csv(full)
    sklearn_fit(df)
    return time.perf_counter() - start


def time_fraud(fraud, full, tmp):
    start = time.perf_counter()
    subprocess.run([fraud, "train", "--csv", full, "--model-dir", os.path.join(tmp, "m"), "--json"],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fraud", default="target/release/fraud")
    ap.add_argument("--full", default="../shared/data/creditcard.csv.gz")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = quality(args.fraud, args.full, args.seeds, tmp) if args.seeds > 0 else []
        mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if k != "seed"} if rows else {}
        plain = os.path.join(tmp, "creditcard.csv")
        pd.read_csv(args.full).to_csv(plain, index=False)
        speed = {}
        for label, path in (("gzip", args.full), ("plain", plain)):
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(time_fraud(args.fraud, path, tmp))
                theirs.append(time_sklearn(path))
            speed[label] = {
                "fraud_train_median_s": statistics.median(ours),
                "sklearn_read_scale_fit_median_s": statistics.median(theirs),
                "ratio": statistics.median(ours) / statistics.median(theirs),
            }
        import sklearn
        print(json.dumps({"seeds": args.seeds, "runs": args.runs, "sklearn": sklearn.__version__,
                          "quality_mean": mean, "per_seed": rows, "speed": speed}, indent=2))


if __name__ == "__main__":
    main()
