"""From PyTorch to wgsl-train: a model file that says its layers and task, so `wgsl-train
eval` and `Experiment::start_with` take it without guessing.

A bare `safetensors.torch.save_file(model.state_dict(), path)` loads too, but a state dict
does not say which activations sit between the Linear layers, and wgsl-train assumes ReLU.
This script writes the layers into the file (ReLU, LeakyReLU, Tanh, Sigmoid, GELU, SiLU, with
their arguments, and Dropout right after an activation), and refuses any the crate does not have
(BatchNorm1d, …) or has elsewhere by name. A `Dropout(p=0)`, the identity, is left out, and the
Linear layers after it renumbered as the `nn.Sequential` without it numbers them.

From Python, with the model itself:

    import from_torch                    # with scripts/ on sys.path
    from_torch.save_module(model, "regression", "model.safetensors")

From the command line, with a saved state dict and the layers named in order (LeakyReLU's
slope, GELU's form and Dropout's p after a colon: `LeakyReLU:0.2`, `GELU:tanh`, `Dropout:0.2`):

    python3 scripts/from_torch.py STATE_DICT.safetensors --task regression \\
        --layers Linear,GELU,Dropout:0.2,Linear,Tanh,Linear OUT.safetensors

Needs numpy and safetensors (and torch for `save_module`). The file format:
docs/checkpoint-format.md.
"""
import argparse
import json
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

FORMAT_VERSION = 4
TASKS = ("regression", "binary", "multiclass")
ACTIVATIONS = ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "SiLU")


def activation_layer(spec):
    """The entry of an activation given as "Tanh", "LeakyReLU:0.2" or "GELU:tanh" (None when
    the name is not an activation wgsl-train has)."""
    kind, _, argument = spec.partition(":")
    if kind not in ACTIVATIONS:
        return None
    layer = {"type": kind}
    if kind == "LeakyReLU":
        layer["negative_slope"] = float(argument) if argument else 0.01
    elif kind == "GELU":
        if argument not in ("", "none", "tanh"):
            raise ValueError(f"GELU approximate={argument!r}; PyTorch's are 'none' and 'tanh'")
        layer["approximate"] = argument or "none"
    elif argument:
        raise ValueError(f"{kind} takes no argument (got {spec!r})")
    return layer


def header(layer_types, weights, task):
    """The "wgsl-train" entry for an nn.Sequential of `layer_types` (class names, with
    LeakyReLU's slope, GELU's form or Dropout's p after a colon) with state dict `weights`, and
    the state dict as the file names it (renumbered where a Dropout(p=0) was left out). Raises
    ValueError naming the first layer wgsl-train does not have, or has elsewhere."""
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {TASKS}")
    layers, renamed = [], {}
    before = "nothing"  # what the layer before was: nothing, Linear, an activation, Dropout
    for i, spec in enumerate(layer_types):
        kind, _, argument = spec.partition(":")
        activation = activation_layer(spec)
        if kind not in ("Linear", "Dropout") and activation is None:
            raise ValueError(
                f"layer {i} is {kind}, which wgsl-train does not have: it builds Linear layers "
                f"with {', '.join(ACTIVATIONS)} between them, each activation optionally "
                f"followed by Dropout")
        now = "an activation" if activation else kind
        allowed = {"Linear": before != "Linear", "Dropout": before == "an activation"}
        if not allowed.get(kind, before == "Linear"):
            raise ValueError(
                f"layer {i} is {kind} after {before}; wgsl-train has nn.Sequential(Linear, "
                f"activation, [Dropout,] Linear, …, Linear) only")
        before = now
        if kind == "Dropout":
            p = float(argument) if argument else 0.5
            if not 0 <= p < 1:
                raise ValueError(f"layer {i} is Dropout(p={p}); wgsl-train's have 0 ≤ p < 1")
            if p > 0:
                layers.append({"type": "Dropout", "p": p})
        elif kind == "Linear":
            out_features, in_features = weights[f"{i}.weight"].shape
            for k in ("weight", "bias"):
                if f"{i}.{k}" in weights:
                    renamed[f"{len(layers)}.{k}"] = weights[f"{i}.{k}"]
            layers.append({"type": kind, "in_features": int(in_features), "out_features": int(out_features)})
        else:
            layers.append(activation)
    if not layers or layers[-1]["type"] != "Linear":
        raise ValueError("the model must end in a Linear layer (its output is logits)")
    expected = {f"{i}.{k}" for i, spec in enumerate(layer_types)
                if spec.partition(":")[0] == "Linear" for k in ("weight", "bias")}
    if set(weights) != expected:
        raise ValueError(f"the state dict has {sorted(weights)}, the layers need {sorted(expected)}")
    entry = {"format_version": FORMAT_VERSION, "crate_version": "from_torch.py", "task": task,
             "layers": layers, "step": None, "preprocessing": None, "split": None,
             "optimizer": None}
    return entry, renamed


def save(layer_types, weights, task, path):
    """Writes `weights` (name → ndarray) as a wgsl-train model file at `path`."""
    weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
    entry, renamed = header(layer_types, weights, task)
    save_file(renamed, path, metadata={"format": "pt", "wgsl-train": json.dumps(entry)})


def layer_spec(layer):
    """A torch module as `header` names it: its class, with LeakyReLU's slope or GELU's form."""
    kind = type(layer).__name__
    if kind == "LeakyReLU":
        return f"{kind}:{layer.negative_slope!r}"
    if kind == "GELU":
        return f"{kind}:{layer.approximate}"
    if kind == "Dropout":
        return f"{kind}:{layer.p!r}"
    return kind


def save_module(module, task, path):
    """Writes a torch `nn.Sequential` as a wgsl-train model file."""
    types = [layer_spec(layer) for layer in module]
    weights = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    save(types, weights, task, path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("state_dict", help="a safetensors state dict of an nn.Sequential")
    parser.add_argument("out", help="the wgsl-train model file to write")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--layers", required=True, help="the layer classes in order, e.g. Linear,GELU,Dropout:0.2,Linear,LeakyReLU:0.2,Linear")
    args = parser.parse_args()
    try:
        save(args.layers.split(","), load_file(args.state_dict), args.task, args.out)
    except ValueError as e:
        sys.exit(f"error: {e}")
    print(f"wrote {args.out}")
