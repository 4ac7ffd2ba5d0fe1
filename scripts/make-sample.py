#!/usr/bin/env python3
"""Make data/sample.csv: a small, reproducible sample of real rows from the full ULB/Kaggle file.

Keeps 400 frauds and 7,600 non-frauds (a 5 % fraud rate, so a model trained on the sample has
enough frauds to learn from), chosen with a fixed seed, in their original order and with the
original text of each line. Standard library only.

    python3 scripts/make-sample.py [../shared/data/creditcard.csv.gz] [data/sample.csv]
"""
import gzip
import random
import sys

SEED = 20150101
FRAUDS = 400
NON_FRAUDS = 7600


def main() -> None:
    src = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/creditcard.csv.gz"
    dst = sys.argv[2] if len(sys.argv) > 2 else "data/sample.csv"
    opener = gzip.open if src.endswith(".gz") else open
    with opener(src, "rt", newline="") as f:
        header = f.readline()
        lines = f.readlines()
    fraud = [i for i, line in enumerate(lines) if line.rstrip().endswith('"1"')]
    other = [i for i, line in enumerate(lines) if line.rstrip().endswith('"0"')]
    if len(fraud) + len(other) != len(lines):
        sys.exit(f"{src}: some rows have a Class that is neither \"0\" nor \"1\"")
    rng = random.Random(SEED)
    keep = sorted(rng.sample(fraud, FRAUDS) + rng.sample(other, NON_FRAUDS))
    with open(dst, "w", newline="") as out:
        out.write(header)
        out.writelines(lines[i] for i in keep)
    print(f"{dst}: {len(keep)} rows ({FRAUDS} frauds) from {len(lines)} in {src}")


if __name__ == "__main__":
    main()
