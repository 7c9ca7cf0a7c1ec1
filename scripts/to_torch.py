"""Continue in PyTorch: a wgsl-train checkpoint as an `nn.Sequential`, the scaling it was
trained with, and an optimizer whose `state_dict` carries the saved state.

    python3 scripts/to_torch.py model.safetensors model.pt

writes `torch.save({"model", "optimizer_class", "optimizer_state_dict", "scaling", "l1",
"clip_grad_value", "clip_grad_norm", "criterion"})`
(built-in types only: `torch.load(path, weights_only=False)` reads it without this script, and
`getattr(torch.optim, optimizer_class)(model.parameters()).load_state_dict(...)` restores the
optimizer); from Python,

    import to_torch                      # with scripts/ on sys.path
    model, wrapped, optimizer, l1 = to_torch.load("model.safetensors")

`model` is the network as trained: standardised features in, logits (or, for regression, a
standardised target) out; its Dropout layers, as all PyTorch modules, act until `.eval()` (call
it before predicting); train on with it, `optimizer.step()` continues where wgsl-train
stopped. `wrapped` adds the saved scaling around it, taking raw features and giving targets in
their own units (regression) or logits (classification). PyTorch's optimizers have no L1 term:
`l1[g]` is group g's L1 penalty, to add to the loss as `l1[g] * sum(|θ|)` over its parameters.
`criterion` is the loss as (class name, keyword arguments as lists), weights included:
`getattr(torch.nn, name)(**{k: torch.tensor(v) for k, v in kwargs.items()})`.

The reading (the file format, docs/checkpoint-format.md) needs only numpy and safetensors;
`read` and `optimizer_state` return plain numpy, and CI checks them. `load` needs torch.
"""
import json
import math
import os
import sys

import numpy as np
from safetensors import safe_open

FORMAT_VERSION = 4
KNOWN_LAYERS = ("Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "SiLU", "Dropout")


class Checkpoint:
    """A model file, and its training state when one is beside it."""

    def __init__(self, header, weights, state_header=None, state=None):
        self.header = header  # the model file's "wgsl-train" entry
        self.weights = weights  # "0.weight" → ndarray, as nn.Sequential names them
        self.state_header = state_header  # the training state's entry, or None
        self.state = state  # "0.weight.exp_avg" → ndarray, …, or None

    @property
    def preprocessing(self):
        return self.header.get("preprocessing")


def training_state_path(path):
    stem, _ = os.path.splitext(path)
    return stem + ".training.safetensors"


def _entry(path, metadata):
    if "wgsl-train" not in (metadata or {}):
        raise ValueError(f"{path}: no \"wgsl-train\" metadata: not a wgsl-train checkpoint")
    entry = json.loads(metadata["wgsl-train"])
    version = entry.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"{path}: checkpoint format version {version}; this script reads 1 to {FORMAT_VERSION}"
        )
    return entry


def read(path):
    """The checkpoint at `path` as plain Python and numpy (no torch needed)."""
    with safe_open(path, "np") as f:
        header = _entry(path, f.metadata())
        weights = {k: f.get_tensor(k) for k in f.keys()}
    for i, layer in enumerate(header["layers"]):
        if layer["type"] not in KNOWN_LAYERS:
            raise ValueError(f"{path}: layer {i} is {layer['type']}, not one of {KNOWN_LAYERS}")
    state_path = training_state_path(path)
    if not os.path.exists(state_path):
        return Checkpoint(header, weights)
    with safe_open(state_path, "np") as f:
        state_header = _entry(state_path, f.metadata())
        state = {k: f.get_tensor(k) for k in f.keys()}
    if state_header["step"] != header.get("step"):
        # A run killed between its two writes: the training state is one save ahead, and its
        # copy of the weights is the one that goes with its optimizer state.
        weights = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    return Checkpoint(header, weights, state_header, state)


def activate(layer, h):
    """The activation `layer` (an entry of the file's "layers") on the numpy array `h`, in
    float64: PyTorch's formulas, for checking predictions without torch."""
    kind = layer["type"]
    if kind == "ReLU":
        return np.maximum(h, 0.0)
    if kind == "LeakyReLU":
        return np.where(h > 0, h, h * layer.get("negative_slope", 0.01))
    if kind == "Tanh":
        return np.tanh(h)
    if kind == "Sigmoid":
        return 1.0 / (1.0 + np.exp(-h))
    if kind == "SiLU":
        return h / (1.0 + np.exp(-h))
    if kind == "GELU" and layer.get("approximate", "none") == "tanh":
        return 0.5 * h * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (h + 0.044715 * h**3)))
    if kind == "GELU":
        erf = np.vectorize(math.erf)
        return 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
    raise ValueError(f"layer {kind} is not an activation")


def parameter_names(header):
    """The parameters in `nn.Sequential.parameters()` order."""
    return [f"{i}.{kind}" for i, layer in enumerate(header["layers"])
            if layer["type"] == "Linear" for kind in ("weight", "bias")]


def optimizer_state(checkpoint):
    """The saved optimizer as PyTorch would hold it, in numpy: `(class name, param_groups,
    state, l1)`. `param_groups` are PyTorch's constructor arguments with `params` as indices
    into `parameter_names`; `state` maps an index to `{"step": float, "exp_avg": ndarray, …}`
    (empty before the first step); `l1` is each group's L1 penalty. None without a training
    state."""
    groups = checkpoint.header.get("optimizer")
    if not groups or checkpoint.state is None:
        return None
    names = parameter_names(checkpoint.header)
    step = float(checkpoint.state_header["step"])
    kinds = {g["config"]["kind"] for g in groups}
    if len(kinds) != 1:
        raise ValueError(f"groups of different optimizers ({sorted(kinds)}): PyTorch has one per optimizer")
    kind = kinds.pop()
    decoupled = {g["config"].get("decoupled_weight_decay", False) for g in groups}
    if len(decoupled) != 1:
        raise ValueError("Adam and AdamW groups mixed: PyTorch has one per optimizer")
    param_groups, state, l1 = [], {}, []
    for group in groups:
        c = group["config"]
        indices = [names.index(p) for p in group["params"]]
        if kind == "adam":
            arguments = dict(lr=c["lr"], betas=tuple(c["betas"]), eps=c["eps"],
                             weight_decay=c["weight_decay"], amsgrad=c["amsgrad"],
                             maximize=c["maximize"])
            slots = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if c["amsgrad"] else [])
            scalar = {"step": step}
        else:
            arguments = dict(lr=c["lr"], momentum=c["momentum"], dampening=c["dampening"],
                             weight_decay=c["weight_decay"], nesterov=c["nesterov"],
                             maximize=c["maximize"])
            # PyTorch's SGD keeps a momentum buffer only with momentum, from the first step.
            slots = ["momentum_buffer"] if c["momentum"] != 0 else []
            scalar = {}
        param_groups.append(dict(params=indices, **arguments))
        l1.append(c["l1"])
        if step == 0 or not (slots or scalar):
            continue
        for i in indices:
            state[i] = dict(scalar, **{s: checkpoint.state[f"{names[i]}.{s}"] for s in slots})
    name = {"sgd": "SGD", "adam": "AdamW" if decoupled.pop() else "Adam"}[kind]
    return name, param_groups, state, l1


def criterion(header):
    """The model's loss as PyTorch names it, with its weights (format version 3's
    `loss_weights`: {"weight": [...]} or {"pos_weight": [...]}) as keyword arguments."""
    name = {"regression": "MSELoss", "binary": "BCEWithLogitsLoss",
            "multiclass": "CrossEntropyLoss"}[header["task"]]
    return name, dict(header.get("loss_weights") or {})


def clip_grad_norm(checkpoint):
    """The max_norm of torch.nn.utils.clip_grad_norm_ the run took before each step (its
    training state's "clip_grad_norm" setting, "Some(N)"), or None."""
    settings = (checkpoint.state_header or {}).get("settings", {})
    value = settings.get("clip_grad_norm", "None")
    return float(value[len("Some("):-1]) if value.startswith("Some(") else None


def clip_grad_values(header):
    """Each group's clip_grad_value (None where it does not clip): PyTorch's optimizers have
    no such setting; it is `torch.nn.utils.clip_grad_value_` before each step."""
    return [g["config"].get("clip_grad_value") for g in header.get("optimizer") or []]


def load(path):
    """`(model, wrapped, optimizer, l1)` in PyTorch; see the module's description."""
    import torch

    checkpoint = read(path)
    layers = []
    for layer in checkpoint.header["layers"]:
        kind = layer["type"]
        if kind == "Linear":
            layers.append(torch.nn.Linear(layer["in_features"], layer["out_features"]))
        elif kind == "LeakyReLU":
            layers.append(torch.nn.LeakyReLU(layer.get("negative_slope", 0.01)))
        elif kind == "GELU":
            layers.append(torch.nn.GELU(approximate=layer.get("approximate", "none")))
        elif kind == "Dropout":
            layers.append(torch.nn.Dropout(layer.get("p", 0.5)))
        else:
            layers.append(getattr(torch.nn, kind)())
    model = torch.nn.Sequential(*layers)
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in checkpoint.weights.items()},
                          strict=True)
    wrapped = torch.nn.Sequential(*_scaling(torch, checkpoint.preprocessing, model))
    saved = optimizer_state(checkpoint)
    if saved is None:
        return model, wrapped, None, []
    name, param_groups, state, l1 = saved
    parameters = list(model.parameters())
    optimizer = getattr(torch.optim, name)(
        [dict(g, params=[parameters[i] for i in g["params"]]) for g in param_groups])
    as_torch = lambda v: torch.tensor(v, dtype=torch.float32) if np.isscalar(v) else torch.from_numpy(v.copy())
    state_dict = optimizer.state_dict()
    state_dict["state"] = {i: {k: as_torch(v) for k, v in s.items()} for i, s in state.items()}
    optimizer.load_state_dict(state_dict)
    return model, wrapped, optimizer, l1


def _scaling(torch, preprocessing, model):
    """The layers around `model` that take raw features and give targets in their units,
    computing as wgsl-train does: `(x - mean) / std` in, `mean + std · y` out."""
    if preprocessing is None:
        return [model]

    class Scaling(torch.nn.Module):
        def __init__(self, mean, std, inverse):
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32))
            self.inverse = inverse

        def forward(self, x):
            return self.mean + self.std * x if self.inverse else (x - self.mean) / self.std

    layers = [Scaling(preprocessing["feature_mean"], preprocessing["feature_std"], False), model]
    target = preprocessing.get("target_scaling")
    if target is not None:
        layers.append(Scaling([target["mean"]], [target["std"]], True))
    return layers


def scaling_tensors(torch, preprocessing):
    """The saved scaling as tensors, for a file that needs no wgsl-train code to read."""
    if preprocessing is None:
        return None
    tensors = {k: torch.tensor(preprocessing[k], dtype=torch.float32)
               for k in ("feature_mean", "feature_std")}
    target = preprocessing.get("target_scaling")
    if target is not None:
        tensors.update(target_mean=torch.tensor(target["mean"]), target_std=torch.tensor(target["std"]))
    return tensors


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: to_torch.py CHECKPOINT.safetensors OUT.pt")
    import torch

    model, _, optimizer, l1 = load(sys.argv[1])
    if any(l1):
        print(f"note: L1 penalties {l1} are not part of PyTorch's optimizers; add them to the loss",
              file=sys.stderr)
    clips = clip_grad_values(read(sys.argv[1]).header)
    if any(c is not None for c in clips):
        print(f"note: wgsl-train clipped each group's gradients at {clips} (clip_grad_value); "
              "call torch.nn.utils.clip_grad_value_ on those parameters before optimizer.step()",
              file=sys.stderr)
    max_norm = clip_grad_norm(read(sys.argv[1]))
    if max_norm is not None:
        print(f"note: wgsl-train clipped the gradients' norm at {max_norm}; call "
              f"torch.nn.utils.clip_grad_norm_(model.parameters(), {max_norm}) before "
              "optimizer.step()", file=sys.stderr)
    loss = criterion(read(sys.argv[1]).header)
    if loss[1]:
        print(f"note: wgsl-train trained on torch.nn.{loss[0]}({loss[1]}) (saved as 'criterion')",
              file=sys.stderr)
    # Built-in types only, so torch.load reads it without this script.
    torch.save({
        "model": model,
        "optimizer_class": None if optimizer is None else type(optimizer).__name__,
        "optimizer_state_dict": None if optimizer is None else optimizer.state_dict(),
        "scaling": scaling_tensors(torch, read(sys.argv[1]).preprocessing),
        "l1": l1,
        "clip_grad_value": clips,
        "criterion": loss,
        "clip_grad_norm": max_norm,
    }, sys.argv[2])
    print(f"wrote {sys.argv[2]}")
