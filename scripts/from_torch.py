"""From PyTorch to wgsl-train: a model file that says its layers and task, so `wgsl-train
eval` and `Experiment::start_with` take it without guessing.

A bare `safetensors.torch.save_file(model.state_dict(), path)` loads too, but a state dict
does not say which activations sit between the Linear layers, and wgsl-train assumes ReLU.
This script writes the layers into the file, and refuses any the crate does not have (Tanh,
Dropout, BatchNorm1d, …) by name.

From Python, with the model itself:

    import from_torch                    # with scripts/ on sys.path
    from_torch.save_module(model, "regression", "model.safetensors")

From the command line, with a saved state dict and the layers named in order:

    python3 scripts/from_torch.py STATE_DICT.safetensors --task regression \\
        --layers Linear,ReLU,Linear OUT.safetensors

Needs numpy and safetensors (and torch for `save_module`). The file format:
docs/checkpoint-format.md.
"""
import argparse
import json
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

FORMAT_VERSION = 1
TASKS = ("regression", "binary", "multiclass")


def header(layer_types, weights, task):
    """The "wgsl-train" entry for an nn.Sequential of `layer_types` with state dict `weights`.
    Raises ValueError naming the first layer wgsl-train does not have."""
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {TASKS}")
    layers = []
    for i, kind in enumerate(layer_types):
        expected = "Linear" if i % 2 == 0 else "ReLU"
        if kind != expected:
            raise ValueError(
                f"layer {i} is {kind}; wgsl-train has nn.Sequential(Linear, ReLU, …, Linear) only "
                f"(expected {expected} there)")
        if kind == "Linear":
            out_features, in_features = weights[f"{i}.weight"].shape
            layers.append({"type": kind, "in_features": int(in_features), "out_features": int(out_features)})
        else:
            layers.append({"type": kind})
    if not layers or layers[-1]["type"] != "Linear":
        raise ValueError("the model must end in a Linear layer (its output is logits)")
    expected = {f"{i}.{k}" for i, l in enumerate(layers) if l["type"] == "Linear" for k in ("weight", "bias")}
    if set(weights) != expected:
        raise ValueError(f"the state dict has {sorted(weights)}, the layers need {sorted(expected)}")
    return {"format_version": FORMAT_VERSION, "crate_version": "from_torch.py", "task": task,
            "layers": layers, "step": None, "preprocessing": None, "split": None, "optimizer": None}


def save(layer_types, weights, task, path):
    """Writes `weights` (name → ndarray) as a wgsl-train model file at `path`."""
    weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
    entry = header(layer_types, weights, task)
    save_file(weights, path, metadata={"format": "pt", "wgsl-train": json.dumps(entry)})


def save_module(module, task, path):
    """Writes a torch `nn.Sequential` as a wgsl-train model file."""
    types = [type(layer).__name__ for layer in module]
    weights = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    save(types, weights, task, path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("state_dict", help="a safetensors state dict of an nn.Sequential")
    parser.add_argument("out", help="the wgsl-train model file to write")
    parser.add_argument("--task", required=True, choices=TASKS)
    parser.add_argument("--layers", required=True, help="the layer classes in order, e.g. Linear,ReLU,Linear")
    args = parser.parse_args()
    try:
        save(args.layers.split(","), load_file(args.state_dict), args.task, args.out)
    except ValueError as e:
        sys.exit(f"error: {e}")
    print(f"wrote {args.out}")
