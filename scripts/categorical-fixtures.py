#!/usr/bin/env python3
"""Writes the fixtures of the "any schema" work, tests/fixtures/categorical/: a small synthetic
labelled transactions file with categorical columns, and the numbers that scikit-learn and
LightGBM give on it, for `fraud` to be tested against. tests/fixtures/categorical/README.md says
what each file holds and the exact preprocessing the Rust side must reproduce.

- transactions.csv: 4,000 synthetic transactions made here from a fixed numpy seed (nothing is
  read); unseen.csv: 10 hand-written rows with unseen categories and missing values.
- sklearn.json: a one-hot logistic regression (StandardScaler on the numeric columns, the missing
  amount imputed with the mean; OneHotEncoder with max_categories=8 and infrequent_if_exist on the
  categorical ones, a missing category as an all-zero block), trained on every row of
  transactions.csv: the fitted means, standard deviations, one-hot columns, intercept and
  coefficients, and predict_proba for every row of both files.
- lightgbm.txt: a LightGBM model trained on a pandas DataFrame whose categorical columns have the
  `category` dtype (so the file ends with `pandas_categorical:`); lightgbm_predictions.txt and
  lightgbm_contrib.txt: its raw scores and pred_contrib for every row of transactions.csv, then
  every row of unseen.csv.

Run through scripts/categorical-fixtures.sh, which provides the pinned packages; a second run
writes the same bytes.
"""
import os

# One thread for BLAS and OpenMP, before numpy is imported: sums then always run in the same
# order, so a second run writes the same bytes.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import warnings  # noqa: E402

import lightgbm  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

OUT = "tests/fixtures/categorical"
SEED = 20250301
ROWS = 4000
CARDS = 300
DAYS = 30
START = np.datetime64("2025-03-01T00:00:00", "s")
COLUMNS = ["tx_id", "time", "card_id", "amount", "merchant_category", "country", "channel",
           "is_night", "hour", "label"]

# Merchant category codes, most frequent first (Zipf weights 1/rank). 6011 (ATM cash) is only
# drawn for the atm channel. The extra log-odds of fraud: money transfer, gambling, quasi-cash,
# direct marketing, digital goods, jewelry, electronics.
MCC = ["5411", "5812", "5541", "5814", "5912", "5311", "4111", "5999", "4829", "5732",
       "5651", "4121", "5813", "4814", "5942", "7832", "4900", "5310", "5691", "7011",
       "4511", "5200", "5251", "5661", "5945", "7995", "5977", "7230", "8011", "8021",
       "5816", "8062", "5993", "5921", "5944", "6051", "5300", "5967", "6012"]
MCC_RISK = {"4829": 1.6, "7995": 2.0, "6051": 2.2, "5967": 1.8, "5816": 1.2, "5944": 1.0,
            "5732": 0.6}
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "NL", "ES", "IT", "BR", "MX", "RO", "NG"]
COUNTRY_RISK = {"NG": 1.8, "RO": 1.3, "BR": 0.8, "MX": 0.5}
CHANNELS = ["pos", "web", "atm"]
# Relative number of transactions in each UTC hour.
HOURS = np.array([2, 1.5, 1, 1, 1, 1.5, 3, 5, 7, 8, 8, 9, 10, 9, 8, 8, 8, 9, 10, 10, 8, 6, 4, 3])

NUMERIC = ["amount", "is_night", "hour"]
CATEGORICAL = ["merchant_category", "country", "channel"]
LGB_FEATURES = ["amount", "merchant_category", "country", "channel", "is_night", "hour"]
LGB_PARAMS = dict(objective="binary", num_leaves=15, learning_rate=0.1, min_data_in_leaf=20,
                  seed=7, deterministic=True, force_col_wise=True, num_threads=1, verbose=-1)
LGB_ROUNDS = 60

# Rows to test unseen and missing values with (label included); "" is a missing value.
UNSEEN = [
    # tx_id, time, card_id, amount, merchant_category, country, channel, is_night, hour, label
    ("tx-900001", "2025-03-31T10:15:00Z", "card-0001", "25.40", "7297", "US", "pos", 0, 10, 0),
    ("tx-900002", "2025-03-31T11:02:41Z", "card-0002", "310.00", "5411", "JP", "web", 0, 11, 0),
    ("tx-900003", "2025-03-31T12:30:09Z", "card-0003", "58.99", "5812", "GB", "moto", 0, 12, 0),
    ("tx-900004", "2025-03-31T13:45:00Z", "card-0004", "", "5541", "DE", "pos", 0, 13, 0),
    ("tx-900005", "2025-03-31T14:00:00Z", "card-0005", "120.00", "5999", "", "web", 0, 14, 0),
    ("tx-900006", "2025-03-31T15:20:30Z", "card-0006", "42.10", "", "FR", "pos", 0, 15, 0),
    ("tx-900007", "2025-03-31T16:05:12Z", "card-0007", "77.77", "5814", "CA", "", 0, 16, 0),
    ("tx-900008", "2025-03-31T23:59:59Z", "card-9999", "950.00", "6051", "NG", "web", 1, 23, 1),
    ("tx-900009", "2025-04-01T02:10:00Z", "card-9998", "", "", "", "", 1, 2, 1),
    ("tx-900010", "2025-04-01T03:33:33Z", "card-9997", "1999.99", "1234", "ZZ", "app", 1, 3, 1),
]


def zipf(n, offset=0.0):
    w = 1.0 / (np.arange(1, n + 1) + offset)
    return w / w.sum()


def make_transactions():
    """The rows of transactions.csv, header first, as strings and ints."""
    rng = np.random.default_rng(SEED)
    # Times: a day, an hour by the daily profile, a second within the hour; all distinct, sorted.
    seconds = set()
    while len(seconds) < ROWS:
        n = ROWS - len(seconds)
        day = rng.integers(0, DAYS, n)
        hour = rng.choice(24, n, p=HOURS / HOURS.sum())
        sec = rng.integers(0, 3600, n)
        seconds.update((day * 86400 + hour * 3600 + sec).tolist())
    seconds = np.array(sorted(seconds), dtype=np.int64)
    hour = (seconds // 3600) % 24
    is_night = (hour < 6).astype(int)
    # Cards: a few busy, most quiet; each has a home country, where most of its spending is.
    card = rng.choice(CARDS, ROWS, p=zipf(CARDS, offset=20))
    home = rng.choice(len(COUNTRIES), CARDS, p=zipf(len(COUNTRIES)))
    abroad = rng.random(ROWS) < 0.1
    country_idx = np.where(abroad, rng.choice(len(COUNTRIES), ROWS, p=zipf(len(COUNTRIES))), home[card])
    country = np.array(COUNTRIES, dtype=object)[country_idx]
    channel = np.array(CHANNELS, dtype=object)[rng.choice(3, ROWS, p=[0.62, 0.3, 0.08])]
    mcc = np.array(MCC, dtype=object)[rng.choice(len(MCC), ROWS, p=zipf(len(MCC)))]
    mcc[channel == "atm"] = "6011"
    # Amounts: log-normal, larger on the web; whole multiples of 20 at ATMs.
    amount = np.where(channel == "web", rng.lognormal(3.8, 1.1, ROWS), rng.lognormal(3.3, 1.0, ROWS))
    amount = np.where(channel == "atm", 20.0 * rng.integers(1, 16, ROWS), amount)
    amount = np.maximum(np.round(amount, 2), 1.0)
    logit = (-4.7 + 0.55 * np.log(amount / 30.0)
             + np.array([MCC_RISK.get(m, 0.0) for m in mcc])
             + np.array([COUNTRY_RISK.get(c, 0.0) for c in country])
             + 1.0 * (channel == "web") + 0.9 * is_night
             + rng.normal(0.0, 0.8, ROWS))
    label = (rng.random(ROWS) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    missing_country = rng.random(ROWS) < 0.01
    missing_amount = rng.random(ROWS) < 0.01
    rows = [COLUMNS]
    times = np.datetime_as_string(START + seconds.astype("timedelta64[s]"), unit="s")
    for i in range(ROWS):
        rows.append((f"tx-{i + 1:06d}", f"{times[i]}Z", f"card-{card[i] + 1:04d}",
                     "" if missing_amount[i] else f"{amount[i]:.2f}", mcc[i],
                     "" if missing_country[i] else country[i], channel[i],
                     int(is_night[i]), int(hour[i]), int(label[i])))
    return rows


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        for row in rows:
            f.write(",".join(str(v) for v in row) + "\n")


def read_csv(path):
    """As a notebook would, but only an empty cell is missing (pandas' default list of NA strings
    would also take "NA", Namibia) and the codes stay strings ("5411", not 5411)."""
    return pd.read_csv(path, dtype={c: str for c in ["tx_id", "time", "card_id"] + CATEGORICAL},
                       keep_default_na=False, na_values={c: [""] for c in ["amount"] + CATEGORICAL})


def r12(v):
    """A float to 12 significant digits: far below the 1e-4 the tests ask for, and the same
    bytes even if another BLAS build changes the last bits."""
    return float(f"{v:.12g}")


class OneHot:
    """sklearn's OneHotEncoder on one column, with a missing value as an all-zero block.

    OneHotEncoder itself takes NaN for a category of its own (it counts towards max_categories and
    may become infrequent), and an encoder fitted without NaN takes a NaN at transform time for an
    unknown category (the infrequent column). So the encoder is fitted on the column's non-missing
    values only, and only those are passed to transform; missing rows stay all zero."""

    def __init__(self, name):
        self.name = name
        self.encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=8,
                                     sparse_output=False)

    def fit(self, values):
        present = values.notna().to_numpy()
        self.encoder.fit(values[present].to_numpy(dtype=object).reshape(-1, 1))
        return self

    def transform(self, values):
        present = values.notna().to_numpy()
        out = np.zeros((len(values), len(self.encoder.get_feature_names_out())))
        if present.any():
            out[present] = self.encoder.transform(values[present].to_numpy(dtype=object).reshape(-1, 1))
        return out

    def columns(self):
        """Each output column: the category it stands for, or the list grouped as infrequent."""
        infrequent = self.encoder.infrequent_categories_[0]
        infrequent = [] if infrequent is None else sorted(infrequent.tolist())
        frequent = [c for c in self.encoder.categories_[0].tolist() if c not in infrequent]
        names = self.encoder.get_feature_names_out([self.name]).tolist()
        expected = [f"{self.name}_{c}" for c in frequent] + (
            [f"{self.name}_infrequent_sklearn"] if infrequent else [])
        assert names == expected, (names, expected)
        return [{"category": c} for c in frequent] + ([{"infrequent": infrequent}] if infrequent else [])


def newton(x, y, c):
    """The minimiser of sum(log loss) + ||coef||^2 / (2 c), intercept first and not penalised, by
    plain Newton steps: a check on scikit-learn's optimum that shares none of its code."""
    a = np.column_stack([np.ones(len(x)), x])
    penalty = np.eye(a.shape[1]) / c
    penalty[0, 0] = 0.0
    beta = np.zeros(a.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(a @ beta)))
        grad = a.T @ (p - y) + penalty @ beta
        if np.max(np.abs(grad)) < 1e-10:
            return beta
        beta -= np.linalg.solve(a.T @ (a * (p * (1.0 - p))[:, None]) + penalty, grad)
    raise SystemExit("Newton's method did not converge")


def sklearn_reference(train, unseen):
    """The one-hot logistic regression: its preprocessing, coefficients and probabilities."""
    numeric = make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()).fit(train[NUMERIC])
    onehots = [OneHot(c).fit(train[c]) for c in CATEGORICAL]

    def design(df):
        return np.hstack([numeric.transform(df[NUMERIC])] + [o.transform(df[o.name]) for o in onehots])

    x, y = design(train), train["label"].to_numpy()
    x_unseen = design(unseen)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LogisticRegression(max_iter=1000).fit(x, y)
        # The same objective at its optimum: lbfgs stops once the largest gradient component of the
        # mean loss is below tol=1e-4, which leaves the coefficients ~1e-2 from it (and lbfgs with
        # a tiny tol stops on its relative-decrease test ~1e-5 short of it); Newton's method gets
        # there in a few steps.
        tight = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=100).fit(x, y)
    optimum = newton(x, y, c=1.0)
    assert np.max(np.abs(np.r_[tight.intercept_, tight.coef_[0]] - optimum)) < 1e-9
    columns = NUMERIC + [f"{o.name}={c.get('category', 'infrequent')}" for o in onehots for c in o.columns()]
    imputer, scaler = numeric.steps[0][1], numeric.steps[1][1]
    # The scaler's mean is the imputer's (the imputed values are the mean itself).
    assert np.allclose(imputer.statistics_, scaler.mean_, rtol=1e-12, atol=0)
    p_train, p_unseen = model.predict_proba(x)[:, 1], model.predict_proba(x_unseen)[:, 1]
    t_train, t_unseen = tight.predict_proba(x)[:, 1], tight.predict_proba(x_unseen)[:, 1]
    coef_gap = float(np.max(np.abs(np.r_[model.intercept_ - tight.intercept_, model.coef_[0] - tight.coef_[0]])))
    proba_gap = float(np.max(np.abs(np.r_[p_train - t_train, p_unseen - t_unseen])))
    return {
        "about": "One-hot logistic regression trained by scikit-learn on every row of transactions.csv "
                 "(scripts/categorical-fixtures.py); tests/fixtures/categorical/README.md states the "
                 "preprocessing. Numbers are rounded to 12 significant digits; compare to 1e-4.",
        "versions": versions(),
        "training_rows": len(train),
        "positives": int(y.sum()),
        "numeric": [
            {"name": c, "mean": r12(m), "std": r12(s), "missing_in_training": int(train[c].isna().sum()),
             "missing": "imputed with the mean (standardized value 0); std is the population std of "
                        "the imputed column, i.e. sqrt(sum over present values of (x - mean)^2 / training_rows)"}
            for c, m, s in zip(NUMERIC, scaler.mean_, scaler.scale_)
        ],
        "categorical": [
            {"name": o.name, "columns": o.columns(),
             "counts": {str(k): int(v) for k, v in sorted(train[o.name].value_counts().items())},
             "missing_in_training": int(train[o.name].isna().sum()),
             "missing": "all-zero block", "unknown": "the infrequent column if there is one, else all-zero block"}
            for o in onehots
        ],
        "columns": columns,
        "model": {"estimator": "LogisticRegression(max_iter=1000)", "C": 1.0, "solver": "lbfgs", "tol": 1e-4,
                  "n_iter": int(model.n_iter_[0]), "intercept": r12(model.intercept_[0]),
                  "coef": [r12(v) for v in model.coef_[0]]},
        "converged": {"about": "the optimum of the same objective, sum of log losses + ||coef||^2 / (2 C) "
                               "with the intercept not penalised: LogisticRegression(solver='newton-cholesky', "
                               "tol=1e-12), checked against plain Newton steps to 1e-9; a Rust trainer that "
                               "converges lands here, not on `model`",
                      "n_iter": int(tight.n_iter_[0]), "intercept": r12(tight.intercept_[0]),
                      "coef": [r12(v) for v in tight.coef_[0]],
                      "max_abs_diff_coef_vs_model": r12(coef_gap),
                      "max_abs_diff_proba_vs_model": r12(proba_gap)},
        "proba_transactions": [r12(v) for v in p_train],
        "proba_unseen": [r12(v) for v in p_unseen],
        "converged_proba_transactions": [r12(v) for v in t_train],
        "converged_proba_unseen": [r12(v) for v in t_unseen],
        "design_unseen": [[r12(v) for v in row] for row in x_unseen],
    }


def lgb_frame(df):
    """The model's columns, with the categorical ones as pandas `category` (categories sorted)."""
    x = df[LGB_FEATURES].copy()
    for c in CATEGORICAL:
        x[c] = x[c].astype("category")
    return x


def lightgbm_reference(train, unseen):
    x, y = lgb_frame(train), train["label"].to_numpy()
    booster = lightgbm.train(LGB_PARAMS, lightgbm.Dataset(x, label=y), num_boost_round=LGB_ROUNDS)
    text = booster.model_to_string()
    num_cat = [int(v) for v in re.findall(r"^num_cat=(\d+)$", text, re.M)]
    if not any(num_cat):
        raise SystemExit("LightGBM made no categorical split: change the data or the settings")
    both = pd.concat([train, unseen], ignore_index=True)
    xb = lgb_frame(both)  # categories differ from training: LightGBM re-codes them by name
    raw = booster.predict(xb, raw_score=True)
    contrib = booster.predict(xb, pred_contrib=True)
    # The codes LightGBM saw are positions in the pandas_categorical lists (NaN for missing or
    # unknown): the same model fed those codes as numbers gives the same scores, and one trained
    # on them (categorical_feature by index) has the same trees.
    lists = booster.pandas_categorical
    assert lists == [x[c].cat.categories.tolist() for c in CATEGORICAL], lists

    def codes(df):
        m = df[LGB_FEATURES].copy()
        for c, cats in zip(CATEGORICAL, lists):
            pos = {v: float(i) for i, v in enumerate(cats)}
            m[c] = [pos.get(v, np.nan) for v in df[c]]
        return m.to_numpy(dtype=float)

    assert np.array_equal(booster.predict(codes(both), raw_score=True), raw)
    assert np.array_equal(booster.predict(codes(both), pred_contrib=True), contrib)
    by_index = lightgbm.train(LGB_PARAMS, lightgbm.Dataset(
        codes(train), label=y, feature_name=LGB_FEATURES,
        categorical_feature=[LGB_FEATURES.index(c) for c in CATEGORICAL]), num_boost_round=LGB_ROUNDS)
    trees = text[:text.index("end of trees")]
    assert by_index.model_to_string().startswith(trees)
    # Probabilities are the sigmoid of the raw scores.
    assert np.allclose(booster.predict(xb), 1.0 / (1.0 + np.exp(-raw)), rtol=0, atol=1e-15)
    return booster, raw, contrib, num_cat


def versions():
    return {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__, "scipy": scipy.__version__, "lightgbm": lightgbm.__version__}


def main():
    os.makedirs(OUT, exist_ok=True)
    write_csv(f"{OUT}/transactions.csv", make_transactions())
    write_csv(f"{OUT}/unseen.csv", [COLUMNS] + UNSEEN)
    train, unseen = read_csv(f"{OUT}/transactions.csv"), read_csv(f"{OUT}/unseen.csv")

    ref = sklearn_reference(train, unseen)
    with open(f"{OUT}/sklearn.json", "w") as f:
        f.write(json.dumps(ref, indent=1) + "\n")

    booster, raw, contrib, num_cat = lightgbm_reference(train, unseen)
    booster.save_model(f"{OUT}/lightgbm.txt")
    with open(f"{OUT}/lightgbm_predictions.txt", "w") as f:
        f.writelines(f"{v:.17g}\n" for v in raw)
    with open(f"{OUT}/lightgbm_contrib.txt", "w") as f:
        f.writelines(" ".join(f"{v:.17g}" for v in row) + "\n" for row in contrib)

    print(f"{OUT}: {len(train)} + {len(unseen)} rows, {ref['positives']} positives; "
          f"sklearn: {ref['model']['n_iter']} iterations, max |coef - converged| "
          f"{ref['converged']['max_abs_diff_coef_vs_model']:.3g}, max |proba - converged| "
          f"{ref['converged']['max_abs_diff_proba_vs_model']:.3g}; lightgbm: {sum(1 for n in num_cat if n)} "
          f"of {len(num_cat)} trees with categorical splits ({sum(num_cat)} nodes); {versions()}")


if __name__ == "__main__":
    main()
