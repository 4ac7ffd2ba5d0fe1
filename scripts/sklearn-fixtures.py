#!/usr/bin/env python3
"""Prints the scikit-learn reference weights of tests/train.rs as the Rust constants there:
a logistic regression fitted by scikit-learn, as a data scientist's notebook would fit it, for
`fraud`'s own fit to be compared with.

- SKLEARN_SAMPLE_WEIGHTS / SKLEARN_SAMPLE_INTERCEPT: on every row of data/sample.csv.
- SKLEARN_FULL_WEIGHTS / SKLEARN_FULL_INTERCEPT: on all 284,807 rows of the full data set
  (--full, by default ../shared/data/creditcard.csv.gz; skipped with a note when it is absent).

The fit: V1..V28 and Amount, read by pandas, through StandardScaler().fit_transform, then LogisticRegression with
scikit-learn's defaults (lbfgs, L2, C=1.0) except tol=1e-10 and max_iter=10000: the optimum
itself, for the tests to compare at 1e-4, not a solution stopped at the default tol=1e-4, which
may sit a few hundredths away (and differs between scikit-learn versions). Values are printed
to 6 decimals, packed as rustfmt packs them.

scripts/sklearn-fixtures.sh runs it in the project's venv, with the pinned scikit-learn (see
scripts/lib/requirements.txt); the constants are committed, so the tests need no Python.

    scripts/sklearn-fixtures.sh [--full PATH] [--check]

--check: exit 1 unless tests/train.rs holds the printed constants verbatim.
"""
import argparse
import os
import sys

# scikit-learn's lbfgs also stops on a relative change of the loss, so the full data set's
# weights move in the 6th decimal with the last bit of a parsed input: pandas' CSV reader (not
# Python's float) and the numpy and scipy pinned in scripts/lib/requirements.txt reproduce them.
FEATURES = [f"V{i}" for i in range(1, 29)] + ["Amount"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(path):
    """The features and labels of a ULB-layout CSV (gzipped or not), as pandas reads it."""
    import pandas as pd

    df = pd.read_csv(path)
    return df[FEATURES].values, df["Class"].values


def fit(path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = read(path)
    model = LogisticRegression(tol=1e-10, max_iter=10000).fit(StandardScaler().fit_transform(x), y)
    return list(model.coef_[0]), float(model.intercept_[0])


def rust(name, weights, intercept, width=119):
    """The constants as tests/train.rs holds them: rustfmt packs short array items greedily
    into lines, counting a separator after the last item of each: 119 characters at most
    (rustfmt.toml's max_width, less the comma)."""
    lines = [f"const {name}_WEIGHTS: [f64; {len(weights)}] = ["]
    line = "   "
    for w in weights:
        item = f" {w:.6f},"
        if len(line) + len(item) > width:
            lines.append(line)
            line = "   "
        line += item
    lines.append(line)
    lines.append("];")
    lines.append(f"const {name}_INTERCEPT: f64 = {intercept:.6f};")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", default=os.path.join(ROOT, "..", "shared", "data", "creditcard.csv.gz"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    import numpy
    import scipy
    import sklearn

    print(f"// scikit-learn {sklearn.__version__}, numpy {numpy.__version__}, scipy {scipy.__version__}")
    blocks = [rust("SKLEARN_SAMPLE", *fit(os.path.join(ROOT, "data", "sample.csv")))]
    if os.path.exists(args.full):
        blocks.append(rust("SKLEARN_FULL", *fit(args.full)))
    else:
        print(f"sklearn-fixtures: {args.full} is absent: the full data set's constants are not made", file=sys.stderr)
    print("\n".join(blocks), end="")
    if args.check:
        with open(os.path.join(ROOT, "tests", "train.rs")) as f:
            text = f.read()
        stale = [b.splitlines()[0] for b in blocks if b not in text]
        for s in stale:
            print(f"sklearn-fixtures: tests/train.rs does not hold these values: {s}", file=sys.stderr)
        sys.exit(1 if stale else 0)


if __name__ == "__main__":
    main()
