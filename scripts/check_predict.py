"""Recomputes `wgsl-train predict` from a checkpoint file alone, with numpy and safetensors:
the weights, the saved feature scaling (and target scaling or class names), a forward pass of
Linear layers with ReLU between them. The crate's CI runs it; so can anyone who wants to check
that the file says everything its predictions need.

    python3 scripts/check_predict.py rows CKPT ROWS.csv N     # N random rows for the model
    python3 scripts/check_predict.py check CKPT ROWS.csv PREDICTIONS.csv

`check` exits 1, naming the row, unless every prediction agrees within 1e-5 relative.
"""
import csv
import sys

import numpy as np
from safetensors import safe_open


def load(path):
    with safe_open(path, "np") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k).astype(np.float64) for k in f.keys()}
    numbers = lambda key: np.array([float(v) for v in meta[key].split(",")])
    return meta, tensors, meta["wgsl-train.feature_names"].split("\n"), numbers


def make_rows(path, out, n):
    meta, _, names, numbers = load(path)
    rng = np.random.default_rng(0)
    x = numbers("wgsl-train.feature_mean") + rng.standard_normal((n, len(names))) * numbers("wgsl-train.feature_std")
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(x.tolist())


def predict(path, rows_csv):
    meta, w, names, numbers = load(path)
    with open(rows_csv, newline="") as f:
        x = np.array([[float(r[n]) for n in names] for r in csv.DictReader(f)])
    h = (x - numbers("wgsl-train.feature_mean")) / numbers("wgsl-train.feature_std")
    layers = sorted({int(k.split(".")[0]) for k in w})
    for i, layer in enumerate(layers):
        h = h @ w[f"{layer}.weight"].T + w[f"{layer}.bias"]
        if i + 1 < len(layers):
            h = np.maximum(h, 0.0)
    task = meta["wgsl-train.task"]
    if task == "regression":
        std = float(meta.get("wgsl-train.target_scale_std", 1.0))
        return task, h[:, 0] * std + float(meta.get("wgsl-train.target_scale_mean", 0.0)), None
    classes = meta["wgsl-train.class_names"].split("\n")
    if task == "binary":
        p = 1.0 / (1.0 + np.exp(-h[:, 0]))
        probabilities = np.stack([1.0 - p, p], axis=1)
    else:
        e = np.exp(h - h.max(axis=1, keepdims=True))
        probabilities = e / e.sum(axis=1, keepdims=True)
    return task, probabilities, [classes[i] for i in probabilities.argmax(axis=1)]


def check(path, rows_csv, predictions_csv):
    task, want, labels = predict(path, rows_csv)
    with open(predictions_csv, newline="") as f:
        got = list(csv.DictReader(f))
    if len(got) != len(want):
        sys.exit(f"{len(got)} predictions for {len(want)} rows")
    for i, row in enumerate(got):
        if task == "regression":
            values, expected = np.array([float(row["prediction"])]), want[i : i + 1]
        else:
            values = np.array([float(v) for k, v in row.items() if k.startswith("p(")])
            expected = want[i]
            if row["label"] != labels[i]:
                sys.exit(f"row {i}: label {row['label']!r}, numpy says {labels[i]!r}")
        tolerance = 1e-5 * np.maximum(np.abs(expected), 1.0)
        if np.any(np.abs(values - expected) > tolerance):
            sys.exit(f"row {i}: wgsl-train {values}, numpy {expected}")
    print(f"{len(got)} {task} predictions agree with numpy's from {path} alone")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "rows":
        make_rows(args[0], args[1], int(args[2]))
    else:
        check(*args)
