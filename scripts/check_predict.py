"""Recomputes `wgsl-train predict` from a checkpoint file alone, with numpy and safetensors,
reading it as `to_torch.py` does: the weights, the saved feature scaling (and target scaling
or class names), a forward pass of the layers the file names. The crate's CI runs it; so can
anyone who wants to check that the file says everything its predictions need.

    python3 scripts/check_predict.py rows CKPT ROWS.csv N     # N random rows for the model
    python3 scripts/check_predict.py check CKPT ROWS.csv PREDICTIONS.csv
    python3 scripts/check_predict.py optimizer CKPT CLASS LR  # to_torch's optimizer state
    python3 scripts/check_predict.py criterion CKPT LOSS [KEY=W1,W2]  # to_torch's loss
    python3 scripts/check_predict.py clip_norm CKPT N|None    # to_torch's clip_grad_norm

`check` exits 1, naming the row, unless every prediction agrees within 1e-5 relative;
`optimizer` unless to_torch.py finds a PyTorch optimizer CLASS with learning rate LR and a
state for every parameter, shaped as it, at the file's step; `criterion` unless to_torch.py
gives the PyTorch loss LOSS with exactly these weights (`weight=…` or `pos_weight=…`).
"""
import csv
import sys

import numpy as np

import to_torch


def load(path):
    checkpoint = to_torch.read(path)
    p = checkpoint.preprocessing
    weights = {k: v.astype(np.float64) for k, v in checkpoint.weights.items()}
    return checkpoint.header, weights, p


def make_rows(path, out, n):
    _, _, p = load(path)
    names = p["feature_names"]
    rng = np.random.default_rng(0)
    x = np.array(p["feature_mean"]) + rng.standard_normal((n, len(names))) * np.array(p["feature_std"])
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        writer.writerows(x.tolist())


def predict(path, rows_csv):
    header, w, p = load(path)
    with open(rows_csv, newline="") as f:
        x = np.array([[float(r[n]) for n in p["feature_names"]] for r in csv.DictReader(f)])
    h = (x - np.array(p["feature_mean"])) / np.array(p["feature_std"])
    for i, layer in enumerate(header["layers"]):
        if layer["type"] == "Linear":
            h = h @ w[f"{i}.weight"].T + w[f"{i}.bias"]
        elif layer["type"] == "Dropout":
            continue  # the identity outside training
        else:
            h = to_torch.activate(layer, h)
    task = header["task"]
    if task == "regression":
        target = p["target_scaling"] or {"mean": 0.0, "std": 1.0}
        return task, target["mean"] + target["std"] * h[:, 0], None
    classes = p["class_names"]
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


def check_optimizer(path, name, lr):
    checkpoint = to_torch.read(path)
    got_name, groups, state, _ = to_torch.optimizer_state(checkpoint)
    names = to_torch.parameter_names(checkpoint.header)
    step = checkpoint.header["step"]
    if (got_name, [g["lr"] for g in groups]) != (name, [float(lr)]):
        sys.exit(f"to_torch says {got_name} with rates {[g['lr'] for g in groups]}, not {name} at {lr}")
    if sorted(state) != list(range(len(names))) or step < 1:
        sys.exit(f"state for parameters {sorted(state)} at step {step}, not for all of {names}")
    for i, slots in state.items():
        for slot, value in slots.items():
            want = () if slot == "step" else checkpoint.weights[names[i]].shape
            if np.shape(value) != want or (slot == "step" and value != step):
                sys.exit(f"{names[i]}.{slot}: {np.shape(value)} at step {value}, want {want} at {step}")
    print(f"{name} state for {len(names)} parameters at step {step} from {path}")


def check_criterion(path, name, *weights):
    """to_torch.py's criterion: `name`, and with `key=v1,v2` its weights as given to train."""
    want = (name, {k: [float(v) for v in vs.split(",")]
                   for k, vs in (w.split("=") for w in weights)})
    got = to_torch.criterion(to_torch.read(path).header)
    if got != want:
        sys.exit(f"to_torch's criterion is {got}, not {want}")
    print(f"criterion {got[0]}{got[1]} from {path}")


def check_clip_norm(path, max_norm):
    """to_torch.py's clip_grad_norm max_norm, from the training state's settings."""
    got = to_torch.clip_grad_norm(to_torch.read(path))
    want = None if max_norm == "None" else float(max_norm)
    if got != want:
        sys.exit(f"to_torch's clip_grad_norm is {got}, not {want}")
    print(f"clip_grad_norm {got} from {path}")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "rows":
        make_rows(args[0], args[1], int(args[2]))
    elif command == "optimizer":
        check_optimizer(*args)
    elif command == "criterion":
        check_criterion(*args)
    elif command == "clip_norm":
        check_clip_norm(*args)
    else:
        check(*args)
