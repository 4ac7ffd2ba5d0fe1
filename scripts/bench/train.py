#!/usr/bin/env python3
"""Quality and speed of `fraud train` against scikit-learn, XGBoost and LightGBM, on identical
data, in one run.

Quality: for each seed, a stratified 70/30 split of the full data is written to CSV files;
`fraud train --test-size 0` fits on the training file and `fraud evaluate` scores the test file.
- Logistic regression: scikit-learn fits StandardScaler + LogisticRegression on the same training
  file, with the threshold chosen the same way (best F1 on the training rows' own predictions);
  the tutorial's untuned recipe (threshold 0.5) is reported too.
- Trees: `fraud train --model gbdt` (its defaults) against XGBoost (300 trees, depth 6, learning
  rate 0.05) and LightGBM (300 trees, 15 leaves, learning rate 0.05, min_child_weight 1,
  lambda_l2 1), each with its threshold at the best F1 of 3-fold out-of-fold predictions on the
  training part, as fraud chooses its own.
Means over the seeds.

Speed, alternating, medians of N runs on the file as shipped (and the plain CSV for the
logistic regression):
- `fraud train --csv FULL` end to end (read, split, fit, threshold, metrics, save) against
  scikit-learn's read_csv + scale + fit;
- `fraud train --model gbdt --csv FULL` against XGBoost's same job: read_csv, the same 70 %
  training part, fit, 3-fold out-of-fold predictions for the threshold (n_jobs = 2).

    scripts/bench/train.sh [--seeds 5] [--runs 5] [--families logistic,gbdt]
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


def xgboost_model():
    import xgboost
    return xgboost.XGBClassifier(n_estimators=300, max_depth=6, learning_rate=0.05, n_jobs=2, tree_method="hist")


def lightgbm_model():
    import lightgbm
    return lightgbm.LGBMClassifier(n_estimators=300, num_leaves=15, learning_rate=0.05, min_child_weight=1,
                                   reg_lambda=1, n_jobs=2, verbose=-1)


def oof_threshold(make, x, y, seed):
    """Best-F1 threshold of 3-fold out-of-fold predictions on the training part."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=seed)
    p = cross_val_predict(make(), x, y, cv=folds, method="predict_proba")[:, 1]
    return best_f1_threshold(y, p)


def fraud_fit(fraud, family, train_csv, test_csv, model_dir):
    run_json([fraud, "train", "--model", family, "--csv", train_csv, "--test-size", "0", "--model-dir", model_dir, "--json"])
    return run_json([fraud, "evaluate", "--csv", test_csv, "--model-dir", model_dir, "--json"])


def decline(report, prefix):
    """The decline band on the test part: its precision and recall (NaN: no decline band)."""
    d = report.get("decline")
    nan = float("nan")
    return {f"{prefix}_decline_precision": d["precision"] if d else nan, f"{prefix}_decline_recall": d["recall"] if d else nan}


def quality(fraud, full, seeds, families, tmp):
    df = pd.read_csv(full)
    rows = []
    for seed in range(1, seeds + 1):
        train, test = train_test_split(df, test_size=0.3, stratify=df["Class"], random_state=seed)
        train_csv, test_csv = os.path.join(tmp, "train.csv"), os.path.join(tmp, "test.csv")
        train.to_csv(train_csv, index=False)
        test.to_csv(test_csv, index=False)
        model_dir = os.path.join(tmp, "model")
        y_train, y_test = train["Class"].values, test["Class"].values
        row = {"seed": seed}
        if "logistic" in families:
            ours = fraud_fit(fraud, "logistic", train_csv, test_csv, model_dir)
            scaler, model = sklearn_fit(train)
            p_train = model.predict_proba(scaler.transform(train[FEATURES].values))[:, 1]
            p_test = model.predict_proba(scaler.transform(test[FEATURES].values))[:, 1]
            t = best_f1_threshold(y_train, p_train)
            row.update({
                "fraud_f1": ours["f1"], "fraud_auprc": ours["auprc"], "fraud_f1_at_0.5": ours["at_0_5"]["f1"],
                **decline(ours, "fraud"),
                "sklearn_f1": f1_score(y_test, p_test >= t), "sklearn_auprc": average_precision_score(y_test, p_test),
                "sklearn_f1_at_0.5": f1_score(y_test, p_test >= 0.5),
            })
        if "gbdt" in families:
            ours = fraud_fit(fraud, "gbdt", train_csv, test_csv, model_dir)
            row.update({"fraud_gbdt_f1": ours["f1"], "fraud_gbdt_auprc": ours["auprc"], **decline(ours, "fraud_gbdt")})
            for name, make in (("xgboost", xgboost_model), ("lightgbm", lightgbm_model)):
                x, xt = train[FEATURES].values, test[FEATURES].values
                t = oof_threshold(make, x, y_train, seed)
                p = make().fit(x, y_train).predict_proba(xt)[:, 1]
                row.update({f"{name}_f1": f1_score(y_test, p >= t), f"{name}_auprc": average_precision_score(y_test, p)})
        rows.append(row)
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def time_sklearn(full):
    start = time.perf_counter()
    df = pd.read_csv(full)
    sklearn_fit(df)
    return time.perf_counter() - start


def time_fraud(fraud, full, tmp, family="logistic"):
    start = time.perf_counter()
    subprocess.run([fraud, "train", "--model", family, "--csv", full, "--model-dir", os.path.join(tmp, "m"), "--json"],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def time_xgboost_job(full):
    """XGBoost's whole job, as `fraud train --model gbdt` does it: read, the 70 % training part,
    fit, and 3-fold out-of-fold predictions for the threshold."""
    start = time.perf_counter()
    df = pd.read_csv(full)
    train, _ = train_test_split(df, test_size=0.3, stratify=df["Class"], random_state=42)
    x, y = train[FEATURES].values, train["Class"].values
    xgboost_model().fit(x, y)
    oof_threshold(xgboost_model, x, y, 42)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fraud", default="target/release/fraud")
    ap.add_argument("--full", default="../shared/data/creditcard.csv.gz")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--families", default="logistic,gbdt")
    ap.add_argument("--speed-only", action="store_true")
    args = ap.parse_args()
    families = args.families.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        rows = quality(args.fraud, args.full, args.seeds, families, tmp) if args.seeds > 0 and not args.speed_only else []
        mean = {k: statistics.mean(r[k] for r in rows) for k in rows[0] if k != "seed"} if rows else {}
        speed = {}
        if "logistic" in families:
            plain = os.path.join(tmp, "creditcard.csv")
            pd.read_csv(args.full).to_csv(plain, index=False)
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
        if "gbdt" in families:
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(time_fraud(args.fraud, args.full, tmp, "gbdt"))
                theirs.append(time_xgboost_job(args.full))
            speed["gbdt_gzip"] = {
                "fraud_train_gbdt_median_s": statistics.median(ours), "fraud_runs_s": ours,
                "xgboost_job_median_s": statistics.median(theirs), "xgboost_runs_s": theirs,
                "ratio": statistics.median(ours) / statistics.median(theirs),
            }
        import sklearn
        versions = {"sklearn": sklearn.__version__}
        if "gbdt" in families:
            import lightgbm
            import xgboost
            versions.update(xgboost=xgboost.__version__, lightgbm=lightgbm.__version__)
        print(json.dumps({"seeds": args.seeds, "runs": args.runs, "versions": versions,
                          "quality_mean": mean, "per_seed": rows, "speed": speed}, indent=2))


if __name__ == "__main__":
    main()
