#!/usr/bin/env python3
"""Per-row scoring time of one tree model in the tree scorers `fraud` is measured against, one
thread each, on the same rows (see scripts/bench/trees.sh, which also runs fraud's own bench):

- lleaves: the LightGBM model compiled with LLVM, predicting the rows as one batch;
- LightGBM's C API, LGBM_BoosterPredictForMatSingleRowFast, one call per row (through ctypes,
  whose own cost per call is measured too and reported beside it);
- LightGBM's batch predict.

Also checks that lleaves and LightGBM agree with each other on every row.

    scripts/bench/trees.py MODEL.TXT CSV [--rows 20000] [--runs 5]
"""
import argparse
import ctypes
import json
import statistics
import time

import lightgbm
import numpy as np
import pandas as pd

FEATURES = [f"V{i}" for i in range(1, 29)] + ["Amount"]


def timed(f, runs):
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        out.append(time.perf_counter() - start)
    return statistics.median(out), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("csv")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    x = np.ascontiguousarray(pd.read_csv(args.csv, nrows=args.rows)[FEATURES].values, dtype=np.float64)
    n = len(x)
    booster = lightgbm.Booster(model_file=args.model)
    result = {"rows": n, "runs": args.runs, "lightgbm": lightgbm.__version__}

    import lleaves
    compiled = lleaves.Model(model_file=args.model)
    compiled.compile()
    reference = booster.predict(x, num_threads=1)
    ll = compiled.predict(x, n_jobs=1)
    result["lleaves_max_abs_diff_from_lightgbm"] = float(np.max(np.abs(ll - reference)))
    med, runs = timed(lambda: compiled.predict(x, n_jobs=1), args.runs)
    result["lleaves_batch_us_per_row"] = med / n * 1e6
    result["lleaves_runs_us_per_row"] = [r / n * 1e6 for r in runs]
    med, runs = timed(lambda: booster.predict(x, num_threads=1), args.runs)
    result["lightgbm_batch_us_per_row"] = med / n * 1e6

    # LightGBM's fastest single-row call, as an application would make it.
    lib = booster._Booster__lib if hasattr(booster, "_Booster__lib") else lightgbm.basic._LIB
    handle = booster._handle
    fast = ctypes.c_void_p()
    C_API_DTYPE_FLOAT64, C_API_PREDICT_NORMAL = 1, 0
    rc = lib.LGBM_BoosterPredictForMatSingleRowFastInit(
        handle, ctypes.c_int(C_API_PREDICT_NORMAL), ctypes.c_int(0), ctypes.c_int(-1),
        ctypes.c_int(C_API_DTYPE_FLOAT64), ctypes.c_int32(x.shape[1]), ctypes.c_char_p(b"num_threads=1"),
        ctypes.byref(fast))
    assert rc == 0, "LGBM_BoosterPredictForMatSingleRowFastInit failed"
    out_len = ctypes.c_int64()
    out = np.zeros(1, dtype=np.float64)
    out_ptr = out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
    rows = [x[i].ctypes.data_as(ctypes.c_void_p) for i in range(n)]
    call = lib.LGBM_BoosterPredictForMatSingleRowFast

    def single_rows():
        for r in rows:
            call(fast, r, ctypes.byref(out_len), out_ptr)

    med, runs = timed(single_rows, args.runs)
    result["lightgbm_single_row_fast_us_per_row"] = med / n * 1e6
    # What ctypes itself costs per call: the same loop around a C function that does nothing.
    noop = ctypes.CDLL(None).getpid

    def noop_rows():
        for r in rows:
            noop()

    med, _ = timed(noop_rows, args.runs)
    result["ctypes_call_overhead_us"] = med / n * 1e6
    lib.LGBM_FastConfigFree(fast)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
