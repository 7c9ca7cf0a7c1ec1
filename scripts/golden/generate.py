"""Writes PyTorch's own numbers as fixtures under tests/golden/, which `tests/golden.rs` reads
in CI without torch. Run by hand where torch is installed:

    python3 scripts/golden/generate.py           # every fixture
    python3 scripts/golden/generate.py inits     # only init.json

Every file records the torch version that wrote it. Inputs are drawn from fixed numpy seeds,
so rerunning with the same torch writes the same files (but for the last bits of GELU's
runs in training.json, which torch's vectorised erf rounds differently on different CPUs: the
2026-12-04 run that added the clipped run kept the earlier machine's GELU runs). Values are float32s written as the
shortest decimal that reads back to the same float32.

- defaults.json: the optimizers' `defaults` dicts and `nn.Linear`'s init bounds.
- optimizers.json: every optimizer configuration the crate offers, ≥ 20 steps of given
  gradients through `torch.optim` (L1 added to the loss, as PyTorch users add it).
- losses.json: each loss's value and gradient at ordinary and edge inputs.
- init.json: `calculate_gain` of each nonlinearity, and each `torch.nn.init` draw's standard
  deviation and largest magnitude over a 300×500 weight.
- schedules.json: `StepLR` and `CosineAnnealingLR` rates, epoch by epoch.
- activations.json: each activation module's output and input gradient at ordinary and edge
  inputs.
- torch_model.safetensors and torch_model.json: an `nn.Sequential(Linear, GELU, Dropout(0.2),
  Linear, Tanh, Linear)` written by scripts/from_torch.py's `save_module`, and its outputs on
  given inputs in evaluation.
- training.json: whole runs of 10→5→1 (ReLU, and each other activation) and of a 10→6→4→1
  with two activations (data, initial weights, per-step losses, final weights).
- clip_norm.json: whole runs of 10→5→1 with `clip_grad_norm_` before every step, on
  training.json's data, with each step's gradient norm before clipping.
- dropout.json: one epoch of mini-batches through networks with Dropout, on training.json's
  data in the order given, each step's masks those wgsl-train draws (Philox4x32-10, written
  here again from its paper's definition) applied as PyTorch's dropout applies its own.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import from_torch  # noqa: E402  (scripts/from_torch.py)

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden")
STEPS = 25


def f32(values):
    """float32 values as Python floats (exact), nested lists kept."""
    return np.asarray(values, dtype=np.float32).astype(np.float64).tolist()


def write(name, body, indent=1):
    """Writes a fixture; the large ones (`indent=None`) on one line each."""
    body = {"torch": torch.__version__, "generator": "scripts/golden/generate.py", **body}
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(body, f, indent=indent, separators=(",", ": ") if indent else (",", ":"))
        f.write("\n")
    print(f"wrote tests/golden/{name}")


def defaults():
    p = [torch.zeros(1, requires_grad=True)]
    keep = ("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "betas",
            "eps", "amsgrad", "decoupled_weight_decay")
    dicts = {
        name: {k: v for k, v in cls(p).defaults.items() if k in keep}
        for name, cls in (("SGD", torch.optim.SGD), ("Adam", torch.optim.Adam),
                          ("AdamW", torch.optim.AdamW))
    }
    # nn.Linear.reset_parameters: kaiming_uniform_(a=√5) on the weight, U(±1/√fan_in) on the
    # bias; the weight's bound as torch.nn.init computes it.
    linear = []
    for fan_in in (1, 5, 10, 64, 100):
        gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
        layer = torch.nn.Linear(fan_in, 3)
        weight_bound = math.sqrt(3.0) * gain / math.sqrt(fan_in)
        assert layer.weight.abs().max().item() <= weight_bound
        linear.append({"fan_in": fan_in, "weight_bound": weight_bound,
                       "bias_bound": 1 / math.sqrt(fan_in)})
    write("defaults.json", {"optimizers": dicts, "linear_init": linear})


# Each case: the crate's config (every field, as its serde JSON), per parameter group.
SGD = dict(kind="sgd", lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, l1=0.0,
           nesterov=False, maximize=False)
ADAM = dict(kind="adam", lr=1e-3, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.0,
            decoupled_weight_decay=False, l1=0.0, amsgrad=False, maximize=False)
CASES = {
    "SGD": [dict(SGD, lr=0.1)],
    "SGD momentum, dampening, weight decay": [
        dict(SGD, lr=0.03, momentum=0.9, dampening=0.1, weight_decay=1e-3)],
    "SGD Nesterov": [dict(SGD, lr=0.05, momentum=0.7, nesterov=True)],
    "SGD maximize with momentum": [dict(SGD, lr=0.02, momentum=0.5, maximize=True)],
    "SGD L1 with momentum": [dict(SGD, lr=0.05, momentum=0.9, l1=0.01)],
    "Adam": [dict(ADAM)],
    "Adam weight decay, AMSGrad": [dict(ADAM, lr=3e-3, weight_decay=0.1, amsgrad=True)],
    "AdamW": [dict(ADAM, lr=0.01, weight_decay=0.01, decoupled_weight_decay=True)],
    "AdamW AMSGrad": [dict(ADAM, lr=0.01, weight_decay=0.05, decoupled_weight_decay=True,
                           amsgrad=True)],
    "Adam betas (0.3, 0.99), maximize": [dict(ADAM, betas=[0.3, 0.99], maximize=True)],
    "Adam L1": [dict(ADAM, lr=0.01, l1=1e-3)],
    "Adam, two parameter groups": [dict(ADAM, lr=0.01, weight_decay=0.1),
                                   dict(ADAM, lr=1e-3, betas=[0.8, 0.99])],
    "SGD, two parameter groups": [dict(SGD, lr=0.05, momentum=0.9, weight_decay=1e-2),
                                  dict(SGD, lr=0.1, nesterov=True, momentum=0.5)],
    # clip_grad_value_ between backward and step; gradients of scale 1 every third step reach
    # the bound, the others stay inside it.
    "SGD momentum, weight decay, L1, clip_grad_value": [
        dict(SGD, lr=0.05, momentum=0.9, weight_decay=1e-2, l1=0.01, clip_grad_value=0.3)],
    "Adam L1, clip_grad_value": [dict(ADAM, lr=0.01, l1=1e-3, clip_grad_value=0.05)],
    "AdamW AMSGrad, clip_grad_value": [
        dict(ADAM, lr=0.01, weight_decay=0.05, decoupled_weight_decay=True, amsgrad=True,
             clip_grad_value=0.5)],
}
SIZES = (24, 7)  # elements of each group's one tensor


def torch_optimizer(groups, params):
    """`torch.optim`'s optimizer for the crate's groups; `params[i]` lists group i's tensors."""
    args = []
    for config, t in zip(groups, params):
        a = {k: v for k, v in config.items()
             if k not in ("kind", "l1", "decoupled_weight_decay", "clip_grad_value")}
        if "betas" in a:
            a["betas"] = tuple(a["betas"])
        args.append({"params": t, **a})
    kind = groups[0]["kind"]
    if kind == "sgd":
        return torch.optim.SGD(args, foreach=False)
    cls = torch.optim.AdamW if groups[0]["decoupled_weight_decay"] else torch.optim.Adam
    return cls(args, foreach=False)


def optimizer_case(name, groups, seed):
    """One case's gradients and torch's parameters after each step, or None where a
    regularised gradient comes within 1e-4 of zero (Adam's step is ill-conditioned there:
    a rounding of g moves lr·g/(|g| + ε) by lr·ε·δg/(|g| + ε)², and a comparison with f32
    arithmetic elsewhere would test the rounding, not the formula)."""
    rng = np.random.default_rng(seed)
    tensors = []
    for size in SIZES[: len(groups)]:
        init = rng.uniform(-1, 1, size).astype(np.float32)
        init[0] = 0.0  # sign(0) = 0 for L1
        tensors.append(torch.tensor(init, requires_grad=True))
    initial = [f32(t.detach().numpy()) for t in tensors]
    opt = torch_optimizer(groups, [[t] for t in tensors])
    grads, params = [], []
    for step in range(1, STEPS + 1):
        scale = 10.0 ** (step % 3 - 2)
        step_grads = []
        for config, t in zip(groups, tensors):
            g = rng.uniform(-1, 1, t.shape[0]).astype(np.float32) * np.float32(scale)
            t.grad = torch.tensor(g)
            if config["l1"]:
                # L1 as PyTorch users add it: loss + λ₁·Σ|θ| (autograd's d|θ|/dθ at 0 is 0).
                (config["l1"] * t.abs().sum()).backward()
            if config.get("clip_grad_value"):
                torch.nn.utils.clip_grad_value_([t], config["clip_grad_value"])
            effective = t.grad.double() * (-1 if config["maximize"] else 1)
            if config["weight_decay"] and not config.get("decoupled_weight_decay"):
                effective = effective + config["weight_decay"] * t.detach().double()
            if config["kind"] == "adam" and effective.abs().min().item() < 1e-4 * scale:
                return None
            step_grads.append(f32(g))
        opt.step()
        grads.append(step_grads)
        params.append([f32(t.detach().numpy()) for t in tensors])
    return {"name": name, "seed": seed, "groups": groups, "initial": initial,
            "grads": grads, "params": params}


def optimizers():
    cases = []
    for i, (name, groups) in enumerate(CASES.items()):
        seed = 1000 * i
        while (case := optimizer_case(name, groups, seed)) is None:
            seed += 1
        cases.append(case)
    write("optimizers.json", {"steps": STEPS, "cases": cases}, indent=None)


def loss_case(name, fn, pred, target, target_dtype=torch.float32):
    x = torch.tensor(np.asarray(pred, dtype=np.float32), requires_grad=True)
    y = torch.tensor(target, dtype=target_dtype)
    value = fn(x, y)
    value.backward()
    return {"name": name, "pred": f32(x.detach().numpy()), "target": y.tolist(),
            "shape": list(x.shape), "loss": float(value.item()), "grad": f32(x.grad.numpy())}


def losses():
    rng = np.random.default_rng(7)
    mse = torch.nn.MSELoss()
    bce_logits = torch.nn.BCEWithLogitsLoss()
    bce = torch.nn.BCELoss()
    ce = torch.nn.CrossEntropyLoss()
    cases = {"mse": [
        loss_case("ordinary", mse, rng.normal(0, 2, 13), f32(rng.normal(0, 2, 13))),
        loss_case("far apart", mse, [1e3, -1e3, 0.0], [-1e3, 1e3, 0.0]),
    ], "bce_with_logits": [
        loss_case("ordinary", bce_logits, rng.normal(0, 2, 11), f32(rng.integers(0, 2, 11))),
        loss_case("large logits", bce_logits, [-100.0, -30.0, 30.0, 100.0, 100.0, -100.0, 0.0],
                  [0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.5]),
        loss_case("soft targets", bce_logits, [-1.5, 0.2, 2.5], [0.25, 0.5, 0.9]),
    ], "bce": [
        loss_case("ordinary", bce, rng.uniform(0.05, 0.95, 9), f32(rng.integers(0, 2, 9))),
        # log clamped at −100 (also ln 1e-44 ≈ −101.3, where a GPU keeps subnormals); the
        # gradient's denominator p(1 − p) at least 1e-12.
        loss_case("p = 0 and 1", bce, [0.0, 1.0, 0.0, 1.0, 1e-7, 1 - 1e-7, 0.5, 1e-44],
                  [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.5, 1.0]),
    ], "softmax_cross_entropy": [
        loss_case("ordinary", ce, rng.normal(0, 2, (5, 4)), [0, 3, 1, 2, 3], torch.long),
        loss_case("ties", ce, [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [5.0, 5.0, -5.0]],
                  [0, 2, 1], torch.long),
        loss_case("large logits", ce, [[100.0, -100.0, 0.0], [1000.0, 1000.0, -1000.0],
                                       [-80.0, 80.0, 79.0]], [1, 0, 2], torch.long),
    ]}
    # PyTorch's weights: CrossEntropyLoss(weight=w), a weighted mean over the rows, and
    # BCEWithLogitsLoss(pos_weight=p), p per column; a generator of their own keeps the cases
    # above as they were.
    wrng = np.random.default_rng(11)

    def weighted(name, criterion, weights, pred, target, target_dtype=torch.float32):
        w = torch.tensor(weights)
        case = loss_case(name, criterion(w), pred, target, target_dtype)
        case["weights"] = f32(w.numpy())
        return case

    ce_weight = lambda w: torch.nn.CrossEntropyLoss(weight=w)  # noqa: E731
    bce_pos = lambda w: torch.nn.BCEWithLogitsLoss(pos_weight=w)  # noqa: E731
    cases["weighted"] = {"softmax_cross_entropy": [
        weighted("ordinary", ce_weight, [0.5, 2.0, 1.25], wrng.normal(0, 2, (7, 3)),
                 [0, 1, 2, 1, 1, 0, 2], torch.long),
        weighted("a class absent, large logits", ce_weight, [3.0, 0.1, 1.0, 7.0],
                 [[100.0, -100.0, 0.0, 1.0], [5.0, 5.0, -5.0, 0.0], [-80.0, 80.0, 79.0, 0.5]],
                 [1, 0, 3], torch.long),
    ], "bce_with_logits": [
        weighted("ordinary", bce_pos, [3.0], wrng.normal(0, 2, (11, 1)),
                 f32(wrng.integers(0, 2, (11, 1)))),
        weighted("large logits, soft targets", bce_pos, [0.25],
                 [[-100.0], [-30.0], [30.0], [100.0], [0.0], [2.5]],
                 [[1.0], [0.0], [1.0], [0.0], [0.5], [0.9]]),
        weighted("a weight per column", bce_pos, [2.0, 0.5], wrng.normal(0, 2, (5, 2)),
                 f32(wrng.integers(0, 2, (5, 2)))),
    ]}
    write("losses.json", {"reduction": "mean", "cases": cases})


def schedules():
    epochs, base = 40, 0.1
    kinds = [
        {"kind": "step", "step_size": 3, "gamma": 0.7},
        {"kind": "step", "step_size": 30, "gamma": 0.1},
        {"kind": "cosine", "t_max": 10, "eta_min": 0.0},
        {"kind": "cosine", "t_max": 7, "eta_min": 1e-3},
    ]
    out = []
    for k in kinds:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
        if k["kind"] == "step":
            s = torch.optim.lr_scheduler.StepLR(opt, k["step_size"], k["gamma"])
        else:
            s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, k["t_max"], k["eta_min"])
        lrs = []
        for _ in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])  # the rate this epoch trains with
            opt.step()
            s.step()
        out.append({**k, "base_lr": base, "lr_by_epoch": lrs})
    write("schedules.json", {"schedules": out})


# The crate's activation names (`Activation`'s Display) and PyTorch's modules.
ACTIVATIONS = {
    "relu": lambda: torch.nn.ReLU(),
    "leaky_relu:0.01": lambda: torch.nn.LeakyReLU(),
    "leaky_relu:-0.25": lambda: torch.nn.LeakyReLU(negative_slope=-0.25),
    "tanh": lambda: torch.nn.Tanh(),
    "sigmoid": lambda: torch.nn.Sigmoid(),
    "gelu": lambda: torch.nn.GELU(),
    "gelu_tanh": lambda: torch.nn.GELU(approximate="tanh"),
    "silu": lambda: torch.nn.SiLU(),
}


def activations():
    """Each module's output and the gradient of sum(upstream · f(z)) at z, over the ranges
    where the formulas change branch, and exact zeros and extremes."""
    rng = np.random.default_rng(17)
    edges = [0.0, -0.0, 0.39, 0.41, -0.4, 1e-30, -1e-6, 1e-3, -1e-3, 5.5, -5.5, 9.0, -9.0,
             14.0, -14.0, 30.0, -30.0, 95.0, -95.0]
    z = np.concatenate([np.array(edges), rng.uniform(-12, 12, 300), rng.normal(0, 1.5, 200)])
    z = z.astype(np.float32)
    upstream = rng.uniform(-1, 1, z.size).astype(np.float32)
    cases = []
    for name, module in ACTIVATIONS.items():
        zt = torch.tensor(z, requires_grad=True)
        out = module()(zt)
        out.backward(torch.tensor(upstream))
        cases.append({"activation": name, "output": f32(out.detach().numpy()),
                      "input_grad": f32(zt.grad.numpy())})
    write("activations.json", {"inputs": f32(z), "upstream": f32(upstream), "cases": cases},
          indent=None)


# Each initialisation as `--init` writes it, and the torch.nn.init call it stands for.
INITS = {
    "default": lambda w: w.copy_(torch.nn.Linear(w.shape[1], w.shape[0]).weight),
    "xavier_uniform": lambda w: torch.nn.init.xavier_uniform_(w),
    "xavier_uniform:gain=tanh": lambda w: torch.nn.init.xavier_uniform_(
        w, gain=torch.nn.init.calculate_gain("tanh")),
    "xavier_normal": lambda w: torch.nn.init.xavier_normal_(w),
    "xavier_normal:gain=0.5": lambda w: torch.nn.init.xavier_normal_(w, gain=0.5),
    "kaiming_uniform": lambda w: torch.nn.init.kaiming_uniform_(w),
    "kaiming_uniform:a=0.2,mode=fan_out": lambda w: torch.nn.init.kaiming_uniform_(
        w, a=0.2, mode="fan_out"),
    "kaiming_normal": lambda w: torch.nn.init.kaiming_normal_(w),
    "kaiming_normal:mode=fan_out,nonlinearity=relu": lambda w: torch.nn.init.kaiming_normal_(
        w, mode="fan_out", nonlinearity="relu"),
    "kaiming_normal:nonlinearity=selu": lambda w: torch.nn.init.kaiming_normal_(
        w, nonlinearity="selu"),
}


def inits():
    """calculate_gain for each nonlinearity, and each initialisation's draw over a weight of
    300×500 (fan_out 300, fan_in 500): its standard deviation and largest magnitude, which
    the crate's own draws (another generator) must match within sampling error."""
    gains = [{"nonlinearity": name, "param": param,
              "gain": torch.nn.init.calculate_gain(name, param)}
             for name, param in (("linear", None), ("sigmoid", None), ("tanh", None),
                                 ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.0),
                                 ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)),
                                 ("selu", None))]
    torch.manual_seed(31)
    draws = []
    for spec, init in INITS.items():
        w = torch.empty(300, 500)
        with torch.no_grad():
            init(w)
        values = w.double()
        draws.append({"init": spec, "shape": [300, 500], "std": values.std().item(),
                      "max_abs": values.abs().max().item()})
    write("init.json", {"gains": gains, "draws": draws})


def training():
    """Networks trained full-batch (every step sees all rows, so the rows' order, which the
    crate draws its own way, does not enter) with MSE: 10→5→1 with ReLU and two optimizers,
    with each other activation and Adam, 10→6→4→1 with GELU then Tanh, and 10→5→1 with its
    gradients clipped (clip_grad_value_)."""
    x, y = training_data()
    rows, epochs = len(y), 30
    runs = []
    adam = dict(ADAM, lr=0.01)
    sgd = dict(SGD, lr=0.05, momentum=0.9, weight_decay=1e-3)
    plans = [("Adam with L1", dict(ADAM, lr=0.01, l1=1e-3), [10, 5, 1], ["relu"]),
             ("SGD momentum with weight decay", sgd, [10, 5, 1], ["relu"])]
    plans += [(f"Adam, {a}", adam, [10, 5, 1], [a]) for a in ACTIVATIONS if a != "relu"]
    plans.append(("SGD momentum, GELU then Tanh", sgd, [10, 6, 4, 1], ["gelu", "tanh"]))
    # A bound the first steps' gradients pass (they reach ~0.5), with L1 inside the clipped
    # gradient and weight decay outside it.
    plans.append(("SGD momentum, L1, clip_grad_value",
                  dict(sgd, l1=1e-3, clip_grad_value=0.05), [10, 5, 1], ["relu"]))
    for name, config, sizes, acts in plans:
        torch.manual_seed(5)
        layers = [torch.nn.Linear(sizes[0], sizes[1])]
        for act, (i, o) in zip(acts, zip(sizes[1:], sizes[2:])):
            layers += [ACTIVATIONS[act](), torch.nn.Linear(i, o)]
        net = torch.nn.Sequential(*layers)
        initial = {k: f32(v.numpy()) for k, v in net.state_dict().items()}
        opt = torch_optimizer([config], [list(net.parameters())])
        xs, ys = torch.tensor(x), torch.tensor(y).unsqueeze(1)
        step_losses = []
        for _ in range(epochs):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(xs), ys)
            step_losses.append(float(loss.item()))
            total = loss
            if config["l1"]:
                total = loss + config["l1"] * sum(p.abs().sum() for p in net.parameters())
            total.backward()
            if config.get("clip_grad_value"):
                torch.nn.utils.clip_grad_value_(net.parameters(), config["clip_grad_value"])
            opt.step()
        final = {k: f32(v.numpy()) for k, v in net.state_dict().items()}
        runs.append({"name": name, "config": config, "sizes": sizes, "activations": acts,
                     "epochs": epochs, "batch_size": rows, "initial": initial,
                     "step_losses": f32(step_losses), "final": final})
    write("training.json", {"features": f32(x), "targets": f32(y), "runs": runs}, indent=None)


def training_data():
    """training.json's 64 rows of 10 features and their targets."""
    rng = np.random.default_rng(11)
    rows = 64
    x = rng.normal(0, 1, (rows, 10)).astype(np.float32)
    y = (np.tanh(x[:, 0] - 0.5 * x[:, 1]) + 0.3 * x[:, 2] * x[:, 3]
         + rng.normal(0, 0.1, rows)).astype(np.float32)
    return x, y


def clip_norm():
    """Full-batch runs with torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm) between
    backward() and step(): max_norms below the first steps' norms (~0.5–1), so most steps clip,
    one that only the first steps reach, and one with L1's term in the loss (so in the norm)."""
    x, y = training_data()
    xs, ys = torch.tensor(x), torch.tensor(y).unsqueeze(1)
    epochs = 30
    sgd = dict(SGD, lr=0.05, momentum=0.9, weight_decay=1e-3)
    runs = []
    for name, config, max_norm in [("SGD momentum, weight decay, max_norm 0.1", sgd, 0.1),
                                   ("Adam, max_norm 0.05", dict(ADAM, lr=0.01), 0.05),
                                   ("Adam, max_norm 0.4", dict(ADAM, lr=0.01), 0.4),
                                   ("SGD momentum, weight decay, L1, max_norm 0.1",
                                    dict(sgd, l1=0.01), 0.1)]:
        torch.manual_seed(5)
        net = torch.nn.Sequential(torch.nn.Linear(10, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
        initial = {k: f32(v.numpy()) for k, v in net.state_dict().items()}
        opt = torch_optimizer([config], [list(net.parameters())])
        step_losses, norms = [], []
        for _ in range(epochs):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(xs), ys)
            step_losses.append(float(loss.item()))
            total = loss
            if config["l1"]:
                total = loss + config["l1"] * sum(p.abs().sum() for p in net.parameters())
            total.backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)))
            opt.step()
        final = {k: f32(v.numpy()) for k, v in net.state_dict().items()}
        runs.append({"name": name, "config": config, "max_norm": max_norm, "sizes": [10, 5, 1],
                     "epochs": epochs, "batch_size": len(y), "initial": initial,
                     "step_losses": f32(step_losses), "norms": f32(norms), "final": final})
    write("clip_norm.json", {"features": f32(x), "targets": f32(y), "runs": runs}, indent=None)


def philox4x32_10(counter, key):
    """Philox4x32-10 (Salmon et al., SC 2011) on four 32-bit words under two."""
    c, k = list(counter), list(key)
    mask = 0xFFFFFFFF
    for round in range(10):
        if round:
            k = [(k[0] + 0x9E3779B9) & mask, (k[1] + 0xBB67AE85) & mask]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & mask, (p0 >> 32) ^ c[3] ^ k[1], p0 & mask]
    return c


assert philox4x32_10([0] * 4, [0] * 2) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]


def dropout_mask(seed, step, layer, shape, p):
    """wgsl-train's keep mask (1 kept, 0 dropped) of one layer in one step of model 0: element
    e (row·units + unit) is kept where the top 24 bits of the first word of Philox4x32-10 of
    (e, layer, step, 0) under the seed's two words are ≥ ⌈p·2²⁴⌉."""
    key = [seed & 0xFFFFFFFF, seed >> 32]
    threshold = math.ceil(p * 2**24)
    n = shape[0] * shape[1]
    keep = [philox4x32_10([e, layer, step, 0], key)[0] >> 8 >= threshold for e in range(n)]
    return torch.tensor(keep, dtype=torch.float32).reshape(shape)


def check_dropout_semantics():
    """PyTorch's training-mode dropout is x·mask.div(1 − p) with its own mask, forward and
    backward, bit for bit: so applying wgsl-train's masks that way is PyTorch's dropout."""
    for p in (0.1, 0.2, 0.25, 0.7):
        x = torch.randn(5000, requires_grad=True)
        y = torch.nn.functional.dropout(x, p, training=True)
        upstream = torch.randn(5000)
        y.backward(upstream)
        noise = (y != 0).float().div_(1 - p)
        assert torch.equal(y, x.detach() * noise), p
        assert torch.equal(x.grad, upstream * noise), p


def dropout_runs():
    """One epoch of 16 mini-batches of 4 rows, in the data's order (the test lays the rows
    out so that the crate's seeded shuffle gives that order), through networks with Dropout
    after their hidden layers' activations."""
    check_dropout_semantics()
    x, y = training_data()
    batch, seed = 4, 0x1_0000_0007
    sgd = dict(SGD, lr=0.05, momentum=0.9, weight_decay=1e-3)
    plans = [("SGD momentum, ReLU, Dropout(0.2)", sgd, [10, 5, 1], ["relu"], [0.2]),
             ("Adam, GELU Dropout(0.25), Tanh Dropout(0.1)", dict(ADAM, lr=0.01),
              [10, 6, 4, 1], ["gelu", "tanh"], [0.25, 0.1])]
    runs = []
    for name, config, sizes, acts, dropout in plans:
        torch.manual_seed(5)
        linears = [torch.nn.Linear(i, o) for i, o in zip(sizes, sizes[1:])]
        activations = [ACTIVATIONS[a]() for a in acts]
        params = [p for layer in linears for p in layer.parameters()]
        initial = [f32(p.detach().numpy()) for p in params]
        opt = torch_optimizer([config], [params])
        step_losses = []
        for step in range(len(y) // batch):
            rows = slice(step * batch, (step + 1) * batch)
            h = torch.tensor(x[rows])
            for layer, linear in enumerate(linears[:-1]):
                h = activations[layer](linear(h))
                keep = dropout_mask(seed, step, layer, h.shape, dropout[layer])
                h = h * keep.div_(1 - dropout[layer])
            out = linears[-1](h)
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(out, torch.tensor(y[rows]).unsqueeze(1))
            step_losses.append(float(loss.item()))
            loss.backward()
            opt.step()
        runs.append({"name": name, "config": config, "sizes": sizes, "activations": acts,
                     "dropout": dropout, "seed": seed, "batch_size": batch,
                     "initial": initial, "step_losses": f32(step_losses),
                     "final": [f32(p.detach().numpy()) for p in params]})
    write("dropout.json", {"features": f32(x), "targets": f32(y), "runs": runs}, indent=None)


def torch_model():
    """A PyTorch model with activations other than ReLU and a Dropout, through from_torch.py,
    and what PyTorch computes with it in evaluation."""
    torch.manual_seed(9)
    net = torch.nn.Sequential(torch.nn.Linear(10, 8), torch.nn.GELU(), torch.nn.Dropout(0.2),
                              torch.nn.Linear(8, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    from_torch.save_module(net, "regression", os.path.join(OUT, "torch_model.safetensors"))
    x = np.random.default_rng(23).normal(0, 1.5, (50, 10)).astype(np.float32)
    net.eval()
    with torch.no_grad():
        y = net(torch.tensor(x)).numpy()
    write("torch_model.json", {"inputs": f32(x), "outputs": f32(y[:, 0])})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    everything = [defaults, optimizers, losses, schedules, activations, inits, torch_model,
                  training, clip_norm, dropout_runs]
    # Names on the command line write only those fixtures (`generate.py inits`).
    wanted = sys.argv[1:] or [f.__name__ for f in everything]
    for fixture in everything:
        if fixture.__name__ in wanted:
            fixture()
