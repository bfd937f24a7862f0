#!/usr/bin/env python3
"""Writes models/credit_gb.onnx: a scikit-learn GradientBoostingClassifier on the credit data's numeric
columns, converted to ONNX-ML with onnx.helper the way skl2onnx converts one (there is no skl2onnx here).

Run with Debian's Python (python3-sklearn 1.2.1, python3-onnx 1.12) from the repository root:

    /usr/bin/python3 examples/onnx_models/make_models.py

The model: 60 trees of depth 3 (learning rate 0.1) predicting P(Status = good) from the nine numeric
columns. scikit-learn 1.2's gradient boosting takes no missing values, so training imputes each column's
median; the ONNX graph needs no Imputer node for that: every split sends a missing value the way the median
goes (nodes_missing_value_tracks_true), which is the same function, and keeps the trees reading the inputs
directly, so Loupe offers them to shap.tree. One float input [N, 9] named by metadata_props
"feature_names"; TreeEnsembleClassifier in the binary one-score form (base value = the initial log-odds,
post_transform LOGISTIC, labels "bad", "good"). The other two models of the example are test fixtures made
by tests/fixtures/onnx/make_onnx_fixtures.py (credit_pipeline(), text_transformer()).
"""
import json
import os

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper
from sklearn.ensemble import GradientBoostingClassifier

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "credit_scoring", "data", "credit_data.csv")
NUMERIC = ["Seniority", "Time", "Age", "Expenses", "Income", "Assets", "Debt", "Amount", "Price"]
ML = "ai.onnx.ml"


def f32(v):
    return float(np.float32(v))


def main():
    frame = pd.read_csv(DATA, float_precision="round_trip")
    x = frame[NUMERIC].to_numpy(dtype=np.float64)
    medians = np.nanmedian(x, axis=0)
    filled = np.where(np.isnan(x), medians, x)
    y = (frame["Status"] == "good").astype(int).to_numpy()
    model = GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0).fit(filled, y)
    attrs = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values", "nodes_modes",
                             "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                             "class_treeids", "class_nodeids", "class_ids", "class_weights")}
    for tree_id, estimator in enumerate(model.estimators_[:, 0]):
        t = estimator.tree_
        for node in range(t.node_count):
            left, right = int(t.children_left[node]), int(t.children_right[node])
            attrs["nodes_treeids"].append(tree_id)
            attrs["nodes_nodeids"].append(node)
            if left == -1:
                for k, v in (("featureids", 0), ("values", 0.0), ("modes", "LEAF"), ("truenodeids", 0),
                             ("falsenodeids", 0), ("missing_value_tracks_true", 0)):
                    attrs["nodes_" + k].append(v)
                for k, v in (("treeids", tree_id), ("nodeids", node), ("ids", 0),
                             ("weights", f32(model.learning_rate * t.value[node, 0, 0]))):
                    attrs["class_" + k].append(v)
                continue
            feature, threshold = int(t.feature[node]), f32(t.threshold[node])
            for k, v in (("featureids", feature), ("values", threshold), ("modes", "BRANCH_LEQ"),
                         ("truenodeids", left), ("falsenodeids", right),
                         ("missing_value_tracks_true", int(np.float32(medians[feature]) <= np.float32(threshold)))):
                attrs["nodes_" + k].append(v)
    base = float(model._raw_predict_init(filled[:1])[0, 0])
    ensemble = helper.make_node("TreeEnsembleClassifier", ["input"], ["label", "probabilities"], domain=ML,
                                name="boosting", classlabels_strings=["bad", "good"], post_transform="LOGISTIC",
                                base_values=[base], **attrs)
    graph = helper.make_graph(
        [ensemble], "credit_gb", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, len(NUMERIC)])],
        [helper.make_tensor_value_info("label", TensorProto.STRING, [None]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])])
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(ML, 1)],
                                   producer_name="examples/onnx_models/make_models.py")
    onnx_model.ir_version = 8
    helper.set_model_props(onnx_model, {"feature_names": json.dumps(NUMERIC)})
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, os.path.join(HERE, "models", "credit_gb.onnx"))
    p = model.predict_proba(filled[:5])[:, 1]
    print("credit_gb.onnx written; P(good) of the first five applicants:", np.round(p, 4).tolist())


if __name__ == "__main__":
    main()
