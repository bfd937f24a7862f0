#!/usr/bin/env python3
"""Writes the data set, XGBoost model and pipeline of bench/result_memory.sh (standard library only).

Usage: make_result_memory_data.py OUT_DIR ROWS [FORMATS]

OUT_DIR/data.csv      ROWS rows of 7 numeric features (two decimals) and a binary target, seeded.
OUT_DIR/model.json    an XGBoost binary:logistic booster (XGBoost's save_model JSON) of 50 trees of depth 4
                      over the 7 features, with consistent covers (sum_hessian), seeded.
OUT_DIR/pipeline.yaml one shap.tree step over every row, writing FORMATS (default "json, csv").
"""
import json
import os
import random
import sys

FEATURES = ["f%d" % i for i in range(7)]
TREES = 50
DEPTH = 4


def make_tree(rng, tree_id):
    """A complete binary tree of depth DEPTH in XGBoost's array layout (node i: children 2i+1, 2i+2)."""
    inner = 2 ** DEPTH - 1
    nodes = 2 ** (DEPTH + 1) - 1
    left, right, parents, split_index, condition, default_left, hessian, weight = [], [], [], [], [], [], [], []
    covers = [0.0] * nodes
    covers[0] = 1000.0
    for i in range(nodes):
        parents.append(2147483647 if i == 0 else (i - 1) // 2)
        if i < inner:
            left.append(2 * i + 1)
            right.append(2 * i + 2)
            split_index.append(rng.randrange(len(FEATURES)))
            condition.append(round(rng.uniform(-1.5, 1.5), 3))
            default_left.append(rng.randrange(2))
            share = rng.uniform(0.2, 0.8)
            covers[2 * i + 1] = covers[i] * share
            covers[2 * i + 2] = covers[i] * (1 - share)
            weight.append(0.0)
        else:
            left.append(-1)
            right.append(-1)
            split_index.append(0)
            condition.append(round(rng.uniform(-0.3, 0.3), 6))  # a leaf's value
            default_left.append(0)
            weight.append(condition[-1])
        hessian.append(covers[i])
    return {
        "base_weights": weight, "categories": [], "categories_nodes": [], "categories_segments": [],
        "categories_sizes": [], "default_left": default_left, "id": tree_id, "left_children": left,
        "loss_changes": [1.0 if i < inner else 0.0 for i in range(nodes)], "parents": parents,
        "right_children": right, "split_conditions": condition, "split_indices": split_index,
        "split_type": [0] * nodes, "sum_hessian": hessian,
        "tree_param": {"num_deleted": "0", "num_feature": str(len(FEATURES)), "num_nodes": str(nodes),
                       "size_leaf_vector": "0"},
    }


def write_model(path, rng):
    trees = [make_tree(rng, t) for t in range(TREES)]
    model = {
        "learner": {
            "attributes": {"loupe_classes": json.dumps(["no", "yes"])},
            "feature_names": FEATURES, "feature_types": ["float"] * len(FEATURES),
            "gradient_booster": {
                "model": {"gbtree_model_param": {"num_parallel_tree": "1", "num_trees": str(TREES)},
                          "tree_info": [0] * TREES, "trees": trees},
                "name": "gbtree"},
            "learner_model_param": {"base_score": "5E-1", "boost_from_average": "0", "num_class": "0",
                                    "num_feature": str(len(FEATURES)), "num_target": "1"},
            "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}},
        },
        "version": [1, 7, 4],
    }
    with open(path, "w") as f:
        json.dump(model, f)


def write_data(path, rows, rng):
    with open(path, "w") as f:
        f.write(",".join(FEATURES + ["label"]) + "\n")
        for _ in range(rows):
            x = [round(rng.gauss(0, 1), 2) for _ in FEATURES]
            f.write(",".join("%.2f" % v for v in x) + "," + ("yes" if x[0] + x[1] > 0 else "no") + "\n")


def write_pipeline(path, formats):
    with open(path, "w") as f:
        f.write("version: 1\nname: result-memory\nseed: 7\n"
                "data:\n  path: data.csv\n  target: label\n  positive: \"yes\"\n"
                "model:\n  type: xgboost\n  path: model.json\n"
                "steps:\n  - id: treeshap\n    explainer: shap.tree\n"
                "output:\n  dir: out\n  formats: [%s]\n" % formats)


def main():
    out_dir, rows = sys.argv[1], int(sys.argv[2])
    formats = sys.argv[3] if len(sys.argv) > 3 else "json, csv"
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(20261205)
    write_model(os.path.join(out_dir, "model.json"), rng)
    write_data(os.path.join(out_dir, "data.csv"), rows, rng)
    write_pipeline(os.path.join(out_dir, "pipeline.yaml"), formats)


if __name__ == "__main__":
    main()
