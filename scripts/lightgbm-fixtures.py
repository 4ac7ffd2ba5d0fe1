#!/usr/bin/env python3
"""Writes the LightGBM fixtures of tests/trees.rs: models trained by Python's LightGBM, as a data
scientist's notebook would make them, and LightGBM's own predictions to compare `fraud` with.

- sample.txt: on data/sample.csv (every row), features in reversed column order (fraud matches
  them by name), 60 trees of 15 leaves; sample_predictions.txt.gz: LightGBM's probability for every
  row of data/sample.csv, in file order.
- sample_zero.txt / sample_zero_predictions.txt.gz: the same with zero_as_missing=True, so nodes
  treat values near zero as missing (Amount is 0 in some rows).
- full.txt.gz / full_predictions.txt.gz (with --full): on the full data set, trained on the rows
  whose index % 10 >= 3 with the settings the trees issue measured (300 trees, 15 leaves,
  learning rate 0.05, min_child_weight 1, lambda_l2 1); the test split is the rows with
  index % 10 < 3. Every 10th test row's probability is stored (the file would be 1.7 MB
  otherwise), and the sum over the whole test split.

Each also gets LightGBM's pred_contrib (TreeSHAP values and the expected value) for a subset of
rows, *_contrib.txt.gz: every 16th sample row, every 100th test row of the full data; the first
field of each line is the row's index in its file.

Predictions are written with 17 significant digits (exact doubles).

    scripts/lightgbm-fixtures.sh [--full ../shared/data/creditcard.csv.gz]
"""
import argparse
import gzip
import io
import os

import lightgbm
import numpy as np
import pandas as pd

FEATURES = [f"V{i}" for i in range(1, 29)] + ["Amount"]
OUT = "tests/fixtures/lightgbm"


def fit(x, y, names, **params):
    base = dict(objective="binary", num_leaves=15, learning_rate=0.1, min_child_weight=1, lambda_l2=1,
                deterministic=True, num_threads=1, seed=7, verbose=-1)
    base.update(params)
    trees = base.pop("num_trees", 60)
    return lightgbm.train(base, lightgbm.Dataset(x, label=y, feature_name=names), num_boost_round=trees)


def gz(path, mode="wt"):
    """A gzip file with no timestamp, so that regenerated fixtures are byte for byte the same."""
    return io.TextIOWrapper(gzip.GzipFile(path, "wb", mtime=0), encoding="utf-8")


def write_contributions(path, booster, x, names, rows):
    """LightGBM's pred_contrib (SHAP values, then the expected value) for the rows at `rows`."""
    contrib = booster.predict(x[rows], pred_contrib=True)
    with gz(path) as f:
        f.write("row " + " ".join(names) + " bias\n")
        for r, c in zip(rows, contrib):
            f.write(f"{r} " + " ".join(f"{v:.17g}" for v in c) + "\n")


def write_predictions(path, p, opener=open):
    with opener(path, "wt") as f:
        for v in p:
            f.write(f"{v:.17g}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", default=None)
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    sample = pd.read_csv("data/sample.csv")
    names = list(reversed(FEATURES))
    x, y = sample[names].values, sample["Class"].values
    for name, extra in (("sample", {}), ("sample_zero", {"zero_as_missing": True, "num_trees": 30})):
        booster = fit(x, y, names, **extra)
        booster.save_model(f"{OUT}/{name}.txt")
        write_predictions(f"{OUT}/{name}_predictions.txt.gz", booster.predict(x), gz)
        write_contributions(f"{OUT}/{name}_contrib.txt.gz", booster, x, names, np.arange(0, len(x), 16))
    if args.full:
        df = pd.read_csv(args.full)
        test = np.arange(len(df)) % 10 < 3
        x, y = df[FEATURES].values, df["Class"].values
        booster = fit(x[~test], y[~test], FEATURES, num_trees=300, learning_rate=0.05)
        text = booster.model_to_string()
        with gz(f"{OUT}/full.txt.gz") as f:
            f.write(text)
        p = booster.predict(x[test])
        test_rows = np.flatnonzero(test)
        write_contributions(f"{OUT}/full_contrib.txt.gz", booster, x, FEATURES, test_rows[::100])
        with gz(f"{OUT}/full_predictions.txt.gz") as f:
            f.write(f"# test rows: index % 10 < 3 ({len(p)}); every 10th row's probability follows the sum\n")
            f.write(f"sum {float(np.sum(p)).hex()}\n")
            for v in p[::10]:
                f.write(f"{v:.17g}\n")
    print(f"lightgbm {lightgbm.__version__}: fixtures written to {OUT}")


if __name__ == "__main__":
    main()
