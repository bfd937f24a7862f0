#!/usr/bin/env python3
"""Trains the XGBoost variant of the credit model, models/credit_xgb.json (Booster.save_model JSON).

The same model as tests/fixtures/xgboost/credit_xgb.json, made by that folder's make_xgboost_fixtures.py
(this is its credit() part without the reference outputs). Run with Debian's python3-xgboost 1.7.4 (plus
numpy) from this folder:

    python3 train_xgboost.py data/credit_data.csv models/credit_xgb.json

binary:logistic on Status == "bad", 50 trees of depth <= 4, base_score = the training rate of "bad"; Home,
Marital, Records and Job are native XGBoost categorical features (codes = index of the level among the
sorted levels, NA = NaN). Loupe reads two booster attributes XGBoost ignores: "loupe_classes" (class labels
by class index) and "loupe_levels" (categorical feature -> its levels by code).
"""
import csv
import json
import sys

import numpy as np
import xgboost as xgb

CATEGORICAL = ["Home", "Marital", "Records", "Job"]


def main(data_path, model_path):
    with open(data_path, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    features = [c for c in header if c != "Status"]
    levels = {c: sorted({r[header.index(c)] for r in rows} - {"NA"}) for c in CATEGORICAL}
    X = np.full((len(rows), len(features)), np.nan)
    for i, r in enumerate(rows):
        for j, c in enumerate(features):
            v = r[header.index(c)]
            if v != "NA":
                X[i, j] = levels[c].index(v) if c in CATEGORICAL else float(v)
    y = np.array([1.0 if r[header.index("Status")] == "bad" else 0.0 for r in rows])
    types = ["c" if c in CATEGORICAL else "q" for c in features]
    d = xgb.DMatrix(X, label=y, feature_names=features, feature_types=types, enable_categorical=True)
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 4, "eta": 0.3,
              "base_score": float(y.mean()), "max_cat_to_onehot": 4, "seed": 7, "nthread": 1}
    booster = xgb.train(params, d, num_boost_round=50)
    attributes = {"loupe_classes": ["good", "bad"], "loupe_levels": levels}
    booster.set_attr(**{k: json.dumps(v) for k, v in attributes.items()})
    booster.save_model(model_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
