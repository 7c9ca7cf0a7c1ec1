"""Checks `to_torch.load` with PyTorch itself (where torch is installed; CI's machines have
no torch, so CI runs only the numpy half, in check_predict.py):

    python3 scripts/check_torch.py CKPT ROWS.csv PREDICTIONS.csv

1. `model` loads with strict=True, and `wrapped` (the saved scaling around it) reproduces
   `wgsl-train predict` for ROWS.csv within 1e-5 relative (the values in the target's units,
   or each class's probability from the logits);
2. the optimizer is bound to the saved state: one `optimizer.step()` with a random gradient
   moves every parameter as PyTorch's Adam/SGD algorithm computed here in float64 from the
   file's tensors says a continuing step does (step t+1, the saved moments), within 1e-5
   relative; a state that did not bind would take a first step instead, and differ.

Exits 1 naming the first disagreement.
"""
import csv
import sys

import numpy as np
import torch

import to_torch


def check_predictions(wrapped, rows_csv, predictions_csv, names):
    with open(rows_csv, newline="") as f:
        x = np.array([[float(r[n]) for n in names] for r in csv.DictReader(f)], dtype=np.float32)
    with open(predictions_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    wrapped.eval()  # Dropout layers: the identity, as in wgsl-train's predictions
    with torch.no_grad():
        out = wrapped(torch.from_numpy(x)).double()
    if "prediction" in rows[0]:  # regression: values in the target's units
        want = np.array([float(r["prediction"]) for r in rows])
        got = out[:, 0].numpy()
    else:  # classes: every class's probability, from the logits
        want = np.array([[float(v) for k, v in r.items() if k.startswith("p(")] for r in rows])
        if out.shape[1] == 1:
            p = torch.sigmoid(out)
            out = torch.cat([1 - p, p], dim=1)
        else:
            out = torch.softmax(out, dim=1)
        got = out.numpy()
    worst = np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0))
    if worst > 1e-5:
        sys.exit(f"wrapped model and wgsl-train predict differ by {worst:.2e} relative")
    print(f"{len(want)} predictions of the wrapped PyTorch model agree with wgsl-train's ({worst:.1e})")


def expected_step(kind, args, state, theta, g):
    """PyTorch's update of one parameter (torch/optim/adam.py, sgd.py), in float64."""
    if args["maximize"]:
        g = -g
    if kind == "SGD":
        if args["weight_decay"]:
            g = g + args["weight_decay"] * theta
        if args["momentum"]:
            buf = args["momentum"] * state["momentum_buffer"] + (1 - args["dampening"]) * g
            g = g + args["momentum"] * buf if args["nesterov"] else buf
        return theta - args["lr"] * g
    b1, b2 = args["betas"]
    if kind == "AdamW":
        theta = theta * (1 - args["lr"] * args["weight_decay"])
    elif args["weight_decay"]:
        g = g + args["weight_decay"] * theta
    t = state["step"] + 1
    m = b1 * state["exp_avg"] + (1 - b1) * g
    v = b2 * state["exp_avg_sq"] + (1 - b2) * g * g
    if args["amsgrad"]:
        v = np.maximum(state["max_exp_avg_sq"], v)
    denominator = np.sqrt(v) / np.sqrt(1 - b2**t) + args["eps"]
    return theta - args["lr"] / (1 - b1**t) * m / denominator


def check_optimizer(path, model, optimizer):
    checkpoint = to_torch.read(path)
    kind, groups, state, _ = to_torch.optimizer_state(checkpoint)
    if type(optimizer).__name__ != kind:
        sys.exit(f"to_torch built {type(optimizer).__name__}, the file says {kind}")
    names = to_torch.parameter_names(checkpoint.header)
    parameters = list(model.parameters())
    rng = np.random.default_rng(1)
    want = {}
    for group in groups:
        for i in group["params"]:
            theta = parameters[i].detach().double().numpy().copy()
            g = rng.standard_normal(theta.shape).astype(np.float32)
            parameters[i].grad = torch.from_numpy(g)
            saved = {k: np.asarray(v, dtype=np.float64) for k, v in state.get(i, {}).items()}
            want[i] = expected_step(kind, group, saved, theta, g.astype(np.float64))
    optimizer.step()
    for i, expected in want.items():
        got = parameters[i].detach().double().numpy()
        worst = np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1e-3))
        if worst > 1e-5:
            sys.exit(f"{names[i]}: PyTorch's step from the loaded state is off by {worst:.2e} relative")
    print(f"one {kind} step from the loaded state (step {checkpoint.state_header['step']}) "
          f"moves all {len(want)} parameters as PyTorch's algorithm says")


if __name__ == "__main__":
    path, rows_csv, predictions_csv = sys.argv[1:]
    model, wrapped, optimizer, _ = to_torch.load(path)
    names = to_torch.read(path).preprocessing["feature_names"]
    check_predictions(wrapped, rows_csv, predictions_csv, names)
    check_optimizer(path, model, optimizer)
