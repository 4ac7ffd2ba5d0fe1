#!/usr/bin/env python3
"""The Fraud Detection Handbook's baseline in pandas, as the reference `fraud` is measured
against (notes: /work/notes/handbook.md; driver: scripts/bench/handbook.sh).

Subcommands, each printing one JSON object on stdout:

    handbook.py features DATA OUT.csv
        The handbook's 15 baseline features on the whole file, with pandas rolling windows
        (notes section 2); times reading, computing and writing.
    handbook.py baseline FEATURES.csv DATA --train-start 2018-07-25 [--weeks N | --all-weeks]
        For each protocol week (7 days train, 7 delay, 7 test, known-compromised cards removed;
        notes section 3.1), XGBoost as in handbook Ch. 3 (1.x behaviour), XGBoost depth 3 and
        LightGBM, each on StandardScaler'd features: AUC, AP and CP@100 per model per week.
    handbook.py metrics DATA PRED.csv --train-start D
        The same protocol metrics for a predictions file (TRANSACTION_ID,probability): how the
        Rust tool's predictions are scored, with the very code `baseline` uses.
    handbook.py compare A.csv B.csv [--tol 1e-9]
        Whether two feature files agree: same columns, same TRANSACTION_IDs, and the largest
        absolute difference per column once joined on TRANSACTION_ID.

DATA is the handbook's transactions CSV (optionally .gz) with at least TRANSACTION_ID,
TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_TIME_DAYS and TX_FRAUD.
"""
import argparse
import datetime
import json
import sys
import time

import numpy as np
import pandas as pd

FEATURES = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "TERMINAL_ID_NB_TX_1DAY_WINDOW",
    "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_NB_TX_7DAY_WINDOW",
    "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_NB_TX_30DAY_WINDOW",
    "TERMINAL_ID_RISK_30DAY_WINDOW",
]
WINDOWS_DAYS = (1, 7, 30)
DELAY_DAYS = 7
TOP_K = 100
# The earliest train start for --all-weeks: the 30-day customer windows are full from then on.
ALL_WEEKS_FROM = datetime.datetime(2018, 5, 1)
EPOCH = datetime.datetime(2018, 4, 1)


# ---------------------------------------------------------------------------------------------
# Data

def read_transactions(path, columns=None):
    """Reads the transactions CSV, TX_DATETIME parsed as naive datetimes, rows in
    TRANSACTION_ID order (the file's order: time-sorted)."""
    usecols = None if columns is None else list(dict.fromkeys(["TRANSACTION_ID", *columns]))
    tx = pd.read_csv(path, usecols=usecols)
    if "TX_DATETIME" in tx.columns:
        tx["TX_DATETIME"] = pd.to_datetime(tx["TX_DATETIME"], format="%Y-%m-%d %H:%M:%S")
    return tx.sort_values("TRANSACTION_ID", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Features (notes section 2)

def rolling_by(tx, key, value, window):
    """Per-`key` rolling sum and count of `value` over the time window `window` (a pandas offset
    such as '7D') ending at each row, returned as two arrays aligned with `tx`'s rows.

    pandas' default for offset windows is closed='right': the window is (t - window, t],
    the current row included. Rows of one key are ordered by time, ties by TRANSACTION_ID
    (tx is in TRANSACTION_ID order and the sort is stable), and a row sees tied rows before
    it but not those after it, as in the handbook's notebook."""
    ordered = tx[[key, "TX_DATETIME", value]].sort_values([key, "TX_DATETIME"], kind="stable")
    rolled = ordered.groupby(key, sort=True).rolling(window, on="TX_DATETIME")[value]
    sums = rolled.sum()
    counts = rolled.count()
    # The result is indexed (key, TX_DATETIME), in `ordered`'s row order (groups in key order,
    # rows within a group as they come): scatter it back by `ordered`'s row labels.
    if not np.array_equal(sums.index.get_level_values(0).to_numpy(), ordered[key].to_numpy()):
        raise AssertionError("groupby().rolling() did not keep the sorted row order")
    rows = ordered.index.to_numpy()
    out_sum = np.empty(len(tx))
    out_count = np.empty(len(tx))
    out_sum[rows] = sums.to_numpy()
    out_count[rows] = counts.to_numpy()
    return out_sum, out_count


def compute_features(tx):
    """The handbook's 15 baseline features (notes section 2) for every row of `tx`, a frame in
    TRANSACTION_ID order with a 0..n-1 index; returns TRANSACTION_ID, the features and TX_FRAUD.

    - TX_DURING_WEEKEND: Saturday or Sunday; TX_DURING_NIGHT: hour <= 6 (the notebook's code,
      not its comment).
    - Customer: count and mean amount over (t - N days, t], current transaction included.
    - Terminal: count and fraud share over (t - (7 + N) days, t - 7 days], i.e. the labels known
      after a 7-day delay; computed as the notebook does, as the difference of two windows ending
      at t; the share is 0 when the count is 0.
    """
    out = pd.DataFrame({"TRANSACTION_ID": tx["TRANSACTION_ID"].to_numpy()})
    out["TX_AMOUNT"] = tx["TX_AMOUNT"].to_numpy()
    out["TX_DURING_WEEKEND"] = (tx["TX_DATETIME"].dt.day_of_week >= 5).astype(int).to_numpy()
    out["TX_DURING_NIGHT"] = (tx["TX_DATETIME"].dt.hour <= 6).astype(int).to_numpy()
    for n in WINDOWS_DAYS:
        total, count = rolling_by(tx, "CUSTOMER_ID", "TX_AMOUNT", f"{n}D")
        out[f"CUSTOMER_ID_NB_TX_{n}DAY_WINDOW"] = count
        out[f"CUSTOMER_ID_AVG_AMOUNT_{n}DAY_WINDOW"] = total / count
    frauds_delay, count_delay = rolling_by(tx, "TERMINAL_ID", "TX_FRAUD", f"{DELAY_DAYS}D")
    for n in WINDOWS_DAYS:
        frauds_both, count_both = rolling_by(tx, "TERMINAL_ID", "TX_FRAUD", f"{DELAY_DAYS + n}D")
        count = count_both - count_delay
        frauds = frauds_both - frauds_delay
        with np.errstate(invalid="ignore", divide="ignore"):
            risk = np.where(count > 0, frauds / np.where(count > 0, count, 1), 0.0)
        out[f"TERMINAL_ID_NB_TX_{n}DAY_WINDOW"] = count
        out[f"TERMINAL_ID_RISK_{n}DAY_WINDOW"] = risk
    out["TX_FRAUD"] = tx["TX_FRAUD"].to_numpy()
    return out[["TRANSACTION_ID", *FEATURES, "TX_FRAUD"]]


def cmd_features(args):
    """`features DATA OUT.csv`: computes and writes the features, printing the timings."""
    t0 = time.perf_counter()
    tx = read_transactions(args.data, ["TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"])
    t1 = time.perf_counter()
    feats = compute_features(tx)
    t2 = time.perf_counter()
    # float_format=None: pandas writes each float with its shortest round-trip repr.
    feats.to_csv(args.out, index=False)
    t3 = time.perf_counter()
    return {"rows": len(feats), "read_s": t1 - t0, "features_s": t2 - t1, "write_s": t3 - t2, "total_s": t3 - t0}


# ---------------------------------------------------------------------------------------------
# Protocol (notes section 3)

def train_test_split(tx, train_start, delta_train=7, delta_delay=7, delta_test=7):
    """The handbook's train/delay/test split (notes section 3.1) on `tx` (needs TX_DATETIME,
    TX_TIME_DAYS, CUSTOMER_ID, TX_FRAUD). Train: TX_DATETIME in [train_start, +delta_train days).
    Test day T (delta_test days from train day 0 + delta_train + delta_delay) keeps only cards
    with no fraud on days [train day 0, T - delta_delay - 1]: the training week's frauds plus each
    delay day's as it becomes known; frauds before train_start are not known.
    Returns (train, test, info), train and test in TRANSACTION_ID order."""
    end_train = train_start + datetime.timedelta(days=delta_train)
    train = tx[(tx["TX_DATETIME"] >= train_start) & (tx["TX_DATETIME"] < end_train)]
    if len(train):
        first_day = int(train["TX_TIME_DAYS"].min())
    else:
        first_day = (train_start - EPOCH).days
    known = set(train.loc[train["TX_FRAUD"] == 1, "CUSTOMER_ID"])
    days = []
    removed_rows = 0
    for i in range(delta_test):
        test_day = first_day + delta_train + delta_delay + i
        newly_known_day = first_day + delta_train + i - 1
        newly = tx[(tx["TX_TIME_DAYS"] == newly_known_day) & (tx["TX_FRAUD"] == 1)]
        known |= set(newly["CUSTOMER_ID"])
        day = tx[tx["TX_TIME_DAYS"] == test_day]
        keep = ~day["CUSTOMER_ID"].isin(known)
        removed_rows += int((~keep).sum())
        days.append(day[keep])
    test = pd.concat(days).sort_values("TRANSACTION_ID", kind="stable")
    train = train.sort_values("TRANSACTION_ID", kind="stable")
    info = {
        "train_start": train_start.strftime("%Y-%m-%d"),
        "train_days": [first_day, first_day + delta_train - 1],
        "test_days": [first_day + delta_train + delta_delay, first_day + delta_train + delta_delay + delta_test - 1],
        "n_train": len(train),
        "n_train_fraud": int(train["TX_FRAUD"].sum()),
        "n_test": len(test),
        "n_test_fraud": int(test["TX_FRAUD"].sum()),
        "n_test_removed_known_cards": removed_rows,
        "known_cards_at_last_test_day": len(known),
        # The terminal windows reach back 7 + 30 days: full only from train day 37 on.
        "terminal_windows_full": first_day >= DELAY_DAYS + max(WINDOWS_DAYS),
        "customer_windows_full": first_day >= max(WINDOWS_DAYS),
    }
    return train, test, info


def card_precision_top_k(test, scores, k=TOP_K):
    """Card precision top-k (notes section 3.3): per test day (TX_TIME_DAYS, ascending), drop cards
    detected on earlier days, score each card by its max transaction score and label it by its
    max TX_FRAUD, take the k best cards; CP@k(day) = true compromised among them / k. Returns the
    mean over days and the per-day values.

    Ties: cards are sorted by score descending, then CUSTOMER_ID ascending (a deterministic
    tie-break; the handbook's pandas quicksort leaves tied order arbitrary)."""
    frame = pd.DataFrame({
        "CUSTOMER_ID": test["CUSTOMER_ID"].to_numpy(),
        "TX_TIME_DAYS": test["TX_TIME_DAYS"].to_numpy(),
        "TX_FRAUD": test["TX_FRAUD"].to_numpy(),
        "score": np.asarray(scores, dtype=float),
    })
    detected = set()
    per_day = []
    for _, day in frame.groupby("TX_TIME_DAYS", sort=True):
        day = day[~day["CUSTOMER_ID"].isin(detected)]
        cards = day.groupby("CUSTOMER_ID", as_index=False).agg(score=("score", "max"), TX_FRAUD=("TX_FRAUD", "max"))
        # Score descending, then CUSTOMER_ID ascending: deterministic tie-break.
        cards = cards.sort_values(["score", "CUSTOMER_ID"], ascending=[False, True], kind="stable")
        top = cards.head(k)
        hits = top.loc[top["TX_FRAUD"] == 1, "CUSTOMER_ID"]
        per_day.append(len(hits) / k)
        detected |= set(hits)
    return float(np.mean(per_day)) if per_day else float("nan"), per_day


def protocol_metrics(test, scores, k=TOP_K):
    """AUC ROC and average precision, pooled over the test transactions, and CP@k with detected
    cards removed (notes sections 3.3 and 3.4), for `scores` aligned with `test`'s rows."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = test["TX_FRAUD"].to_numpy()
    scores = np.asarray(scores, dtype=float)
    cp, cp_days = card_precision_top_k(test, scores, k)
    return {
        "auc": float(roc_auc_score(y, scores)),
        "ap": float(average_precision_score(y, scores)),
        f"cp@{k}": cp,
        f"cp@{k}_per_day": cp_days,
    }


# ---------------------------------------------------------------------------------------------
# Models

def models(threads):
    """The baseline models, name -> factory, each on `threads` threads. XGBoost with
    tree_method='exact' and base_score=0.5 behaves as the 1.x the handbook used (notes section
    4.4)."""
    import lightgbm
    import xgboost

    def xgb(depth):
        return lambda: xgboost.XGBClassifier(
            n_estimators=100, max_depth=depth, learning_rate=0.3, tree_method="exact",
            base_score=0.5, random_state=0, n_jobs=threads, verbosity=0)

    return {
        "xgboost_d6": xgb(6),
        "xgboost_d3": xgb(3),
        "lightgbm_300x15": lambda: lightgbm.LGBMClassifier(
            n_estimators=300, num_leaves=15, random_state=0, n_jobs=threads, verbose=-1),
    }


def fit_predict(factory, train, test):
    """Fits a StandardScaler on the training features and the model on the scaled training set;
    returns the model's fraud probability for each test row."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train[FEATURES])
    x_train = scaler.transform(train[FEATURES])
    x_test = scaler.transform(test[FEATURES])
    model = factory()
    model.fit(x_train, train["TX_FRAUD"].to_numpy())
    return model.predict_proba(x_test)[:, 1]


def week_starts(args, tx):
    """The train start dates to run: --weeks N from --train-start, or --all-weeks: every start on
    --train-start's 7-day grid that is >= 2018-05-01 and whose test week ends inside the data."""
    start = parse_date(args.train_start)
    if not args.all_weeks:
        return [start + datetime.timedelta(days=7 * w) for w in range(args.weeks)]
    last_day = int(tx["TX_TIME_DAYS"].max())
    first = start
    while first - datetime.timedelta(days=7) >= ALL_WEEKS_FROM:
        first -= datetime.timedelta(days=7)
    while first < ALL_WEEKS_FROM:
        first += datetime.timedelta(days=7)
    out = []
    s = first
    while (s - EPOCH).days + 20 <= last_day:
        out.append(s)
        s += datetime.timedelta(days=7)
    return out


def cmd_baseline(args):
    """`baseline FEATURES.csv DATA ...`: trains and scores every model on every requested week."""
    feats = pd.read_csv(args.features)
    missing = [c for c in ["TRANSACTION_ID", *FEATURES] if c not in feats.columns]
    if missing:
        sys.exit(f"handbook.py: {args.features} lacks {missing}")
    tx = read_transactions(args.data, ["TX_DATETIME", "CUSTOMER_ID", "TX_TIME_DAYS", "TX_FRAUD"])
    feats = feats.drop(columns=[c for c in feats.columns if c == "TX_FRAUD"])
    tx = tx.merge(feats, on="TRANSACTION_ID", how="inner", validate="one_to_one")
    factories = models(args.threads)
    weeks = []
    for start in week_starts(args, tx):
        train, test, info = train_test_split(tx, start)
        week = dict(info)
        week["models"] = {}
        for name, factory in factories.items():
            t0 = time.perf_counter()
            scores = fit_predict(factory, train, test)
            fit_s = time.perf_counter() - t0
            week["models"][name] = {**protocol_metrics(test, scores), "fit_predict_s": fit_s}
            if args.save_predictions:
                path = f"{args.save_predictions}{name}_{info['train_start']}.csv"
                pd.DataFrame({"TRANSACTION_ID": test["TRANSACTION_ID"].to_numpy(), "probability": scores}).to_csv(path, index=False)
        weeks.append(week)
        print(summary_line(week), file=sys.stderr)
    import lightgbm
    import sklearn
    import xgboost
    result = {
        "versions": {"pandas": pd.__version__, "xgboost": xgboost.__version__,
                     "lightgbm": lightgbm.__version__, "scikit-learn": sklearn.__version__},
        "threads": args.threads,
        "weeks": weeks,
    }
    if len(weeks) > 1:
        result["mean"] = {
            name: {m: float(np.mean([w["models"][name][m] for w in weeks])) for m in ("auc", "ap", f"cp@{TOP_K}")}
            for name in factories
        }
    return result


def summary_line(week):
    """One human-readable line per week, for stderr."""
    parts = [f"{name} {m['auc']:.3f}/{m['ap']:.3f}/{m[f'cp@{TOP_K}']:.3f}" for name, m in week["models"].items()]
    return f"train {week['train_start']} (test {week['n_test']} tx, {week['n_test_fraud']} frauds): " + "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Scoring someone else's predictions; comparing feature files

def cmd_metrics(args):
    """`metrics DATA PRED.csv --train-start D`: the protocol metrics of a predictions file."""
    tx = read_transactions(args.data, ["TX_DATETIME", "CUSTOMER_ID", "TX_TIME_DAYS", "TX_FRAUD"])
    pred = pd.read_csv(args.predictions)
    for col in ("TRANSACTION_ID", args.column):
        if col not in pred.columns:
            sys.exit(f"handbook.py: {args.predictions} has no column {col}")
    pred = pred[["TRANSACTION_ID", args.column]]
    if pred["TRANSACTION_ID"].duplicated().any():
        sys.exit(f"handbook.py: {args.predictions} repeats TRANSACTION_IDs")
    _, test, info = train_test_split(tx, parse_date(args.train_start))
    test = test.merge(pred, on="TRANSACTION_ID", how="left", validate="one_to_one")
    absent = int(test[args.column].isna().sum())
    if absent:
        sys.exit(f"handbook.py: {absent} of the {len(test)} test transactions have no prediction in {args.predictions}")
    return {**info, "predictions": args.predictions, **protocol_metrics(test, test[args.column].to_numpy())}


def cmd_compare(args):
    """`compare A.csv B.csv`: headers, TRANSACTION_ID sets and max |a - b| per column (joined on
    TRANSACTION_ID); a NaN on one side only is counted per column in nan_mismatches. `agree`:
    same header, same rows, every difference <= --tol and no NaN mismatch."""
    a = pd.read_csv(args.a)
    b = pd.read_csv(args.b)
    result = {"a": args.a, "b": args.b, "rows_a": len(a), "rows_b": len(b),
              "same_header": list(a.columns) == list(b.columns),
              "header_a": list(a.columns), "header_b": list(b.columns)}
    joined = a.merge(b, on="TRANSACTION_ID", how="inner", suffixes=("_a", "_b"), validate="one_to_one")
    result["rows_joined"] = len(joined)
    result["rows_only_in_a"] = len(a) - len(joined)
    result["rows_only_in_b"] = len(b) - len(joined)
    diffs = {}
    nan_mismatches = {}
    worst = {}
    for col in a.columns:
        if col == "TRANSACTION_ID" or col not in b.columns:
            continue
        x = joined[f"{col}_a"].to_numpy(dtype=float)
        y = joined[f"{col}_b"].to_numpy(dtype=float)
        one_nan = np.isnan(x) ^ np.isnan(y)
        d = np.abs(x - y)
        d[np.isnan(d)] = 0.0  # both NaN agree; one NaN is counted in nan_mismatches
        diffs[col] = float(d.max()) if len(d) else 0.0
        nan_mismatches[col] = int(one_nan.sum())
        if len(d) and (diffs[col] > 0 or one_nan.any()):
            i = int(np.argmax(one_nan)) if one_nan.any() else int(np.argmax(d))
            worst[col] = {"TRANSACTION_ID": int(joined["TRANSACTION_ID"].iloc[i]),
                          "a": None if np.isnan(x[i]) else float(x[i]), "b": None if np.isnan(y[i]) else float(y[i])}
    result["max_abs_diff"] = diffs
    result["nan_mismatches"] = nan_mismatches
    result["tolerance"] = args.tol
    result["agree"] = bool(result["same_header"] and result["rows_only_in_a"] == 0 and result["rows_only_in_b"] == 0
                           and all(d <= args.tol for d in diffs.values())
                           and not any(nan_mismatches.values()))
    result["worst_row"] = worst
    result["columns_only_in_a"] = [c for c in a.columns if c not in b.columns]
    result["columns_only_in_b"] = [c for c in b.columns if c not in a.columns]
    return result


def parse_date(text):
    """A YYYY-MM-DD date as a naive midnight datetime."""
    return datetime.datetime.strptime(text, "%Y-%m-%d")


def main():
    """Parses the command line and prints the chosen subcommand's JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("features", help="compute the 15 baseline features")
    p.add_argument("data")
    p.add_argument("out")
    p.set_defaults(run=cmd_features)

    p = sub.add_parser("baseline", help="XGBoost and LightGBM baselines per protocol week")
    p.add_argument("features")
    p.add_argument("data")
    p.add_argument("--train-start", default="2018-07-25")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--weeks", type=int, default=1, help="consecutive weeks from --train-start (default 1)")
    group.add_argument("--all-weeks", action="store_true",
                       help="every week on --train-start's 7-day grid starting >= 2018-05-01 whose test week is in the data")
    # One thread by default: OpenMP's busy-waiting makes -1 (all cores) many times slower
    # whenever another process holds a core (a 1-week fit went from 3 s to 75 s); the scores do
    # not depend on it.
    p.add_argument("--threads", type=int, default=1, help="threads per model fit (default 1)")
    p.add_argument("--save-predictions", metavar="PREFIX",
                   help="also write PREFIX<model>_<train start>.csv (TRANSACTION_ID,probability) per model and week")
    p.set_defaults(run=cmd_baseline)

    p = sub.add_parser("metrics", help="protocol metrics of a predictions file")
    p.add_argument("data")
    p.add_argument("predictions")
    p.add_argument("--train-start", required=True)
    p.add_argument("--column", default="probability", help="the score column (default probability)")
    p.set_defaults(run=cmd_metrics)

    p = sub.add_parser("compare", help="max abs difference per column of two feature files")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--tol", type=float, default=1e-9, help="largest difference that still agrees (default 1e-9)")
    p.set_defaults(run=cmd_compare)

    args = ap.parse_args()
    print(json.dumps(args.run(args), indent=2))


if __name__ == "__main__":
    main()
