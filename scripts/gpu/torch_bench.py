"""PyTorch on the same machine, for BENCHMARKS.md: the figures `wgsl-train bench` prints.

matmul in fp32 with TF32 disabled, torch.optim.Adam(fused=True) beside a device copy, and
training steps per second for the same networks, batch sizes and row counts as the bench tool
(eager PyTorch, the way most people train; one optimizer step per mini-batch, Adam, shuffled
each epoch), and the bench tool's grid: `../shared/peers/jax_grid.py`'s 120 models of 10→5→1
trained together with `torch.func` (`stack_module_state` + `vmap(grad(functional_call))`),
in model-steps per second. Times are medians of CUDA-event timings, after warm-up.

    python3 scripts/gpu/torch_bench.py --json torch.json
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


def median_ms(fn, runs=5, warmup=3):
    """Median of `runs` timings of fn() in milliseconds, synchronised with CUDA events."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def matmul(device):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    rows = []
    shapes = [(s, s, s, "A·B") for s in (256, 512, 1024, 2048)]
    shapes.append((128, 256, 784, "X·Wᵀ"))
    print("matmul, fp32 (TF32 off), GFLOP/s (median of 5)")
    for m, n, k, label in shapes:
        a = torch.randn(m, k, device=device)
        # X·Wᵀ: W is stored [out, in] = [n, k], as in the bench tool.
        b = torch.randn(n, k, device=device) if label == "X·Wᵀ" else torch.randn(k, n, device=device)
        op = (lambda: a @ b.T) if label == "X·Wᵀ" else (lambda: a @ b)
        # Time 10 products per sample so small shapes are not all launch overhead.
        ms = median_ms(lambda: [op() for _ in range(10)]) / 10
        gflops = 2 * m * n * k / (ms / 1e3) / 1e9
        shape = f"{m}×{n}×{k} {label}"
        print(f"  {shape:<26} {gflops:>10.1f}")
        rows.append({"shape": shape, "gflops": gflops})
    return rows


def optimizer(device, n=16_777_216):
    print(f"optimizers over {n} parameters, GB/s (bytes read + written; median of 5)")
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    copy_ms = median_ms(lambda: dst.copy_(src))
    copy_gbs = 8 * n / (copy_ms / 1e3) / 1e9
    print(f"  buffer copy                {copy_gbs:>10.1f}")
    report = {"parameters": n, "copy_gb_per_s": copy_gbs}
    # The bench tool's settings (PyTorch's defaults; SGD with momentum 0.9) and its byte counts:
    # Adam reads θ, g, m, v and writes θ, m, v (28 bytes a parameter); SGD with momentum reads
    # θ, g, b and writes θ, b (20).
    optimizers = [
        ("Adam (fused=True)", "adam", 28, lambda p: torch.optim.Adam([p], lr=1e-3, fused=True)),
        ("SGD + momentum (fused=True)", "sgd_momentum", 20,
         lambda p: torch.optim.SGD([p], lr=1e-3, momentum=0.9, fused=True)),
    ]
    for label, key, bytes_per_param, make in optimizers:
        param = nn.Parameter(torch.randn(n, device=device))
        param.grad = torch.randn(n, device=device)
        opt = make(param)
        ms = median_ms(opt.step)
        gbs = bytes_per_param * n / (ms / 1e3) / 1e9
        print(f"  {label:<26} {gbs:>10.1f}   {100 * gbs / copy_gbs:.0f}% of the copy")
        report[f"{key}_gb_per_s"] = gbs
        report[f"{key}_ms"] = ms
    return report


def steps_per_second(device, sizes, rows, batch, epochs, classes=None):
    """Trains a ReLU MLP with Adam on random data; returns optimizer steps per second."""
    torch.manual_seed(0)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i + 2 < len(sizes):
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to(device)
    x = torch.randn(rows, sizes[0], device=device)
    if classes:
        y = torch.randint(0, classes, (rows,), device=device)
        loss_fn = nn.CrossEntropyLoss()
    else:
        y = torch.randn(rows, 1, device=device)
        loss_fn = nn.MSELoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch():
        order = torch.randperm(rows, device=device)
        steps = 0
        for start in range(0, rows, batch):
            idx = order[start:start + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
            steps += 1
        return steps

    epoch()  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    steps = sum(epoch() for _ in range(epochs))
    torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def training(device):
    print("training with Adam (eager), steps/s")
    cases = [
        ("10→5→1, batch 32", [10, 5, 1], 310, 32, 100, None),
        ("10→5→1, full batch", [10, 5, 1], 310, 310, 500, None),
        ("784→256→256→10, batch 128", [784, 256, 256, 10], 4096, 128, 20, 10),
    ]
    rows = []
    for name, sizes, n, batch, epochs, classes in cases:
        steps = steps_per_second(device, sizes, n, batch, epochs, classes)
        samples = steps * min(batch, n)
        print(f"  {name:<30} {steps:>10.1f} steps/s {samples:>12.0f} samples/s")
        rows.append({"network": name, "steps_per_s": steps, "samples_per_s": samples})
    return rows


def grid(device, epochs=20, folds=5, rows=442, features=10, batch=32):
    """jax_grid.py's grid with torch.func: SGD (momentum 0.9) and Adam x lr {1e-3, 3e-3, 1e-2}
    x L1 {0, 1e-3} x L2 {0, 1e-3} x 5 folds = 120 models of 10->5->1, each its own initial
    weights, fold and shuffle; one vmapped gradient a step for all of a kind's models, their
    updates (PyTorch's: L2 added to the gradient, L1 as lambda * sign) on the stacked tensors.
    Returns model-steps per second, both optimizers' models stepped together."""
    from torch.func import functional_call, grad, stack_module_state, vmap

    generator = torch.Generator().manual_seed(1)
    x = torch.randn(rows, features, generator=generator)
    y = x @ torch.randn(features, generator=generator) + 0.1 * torch.randn(rows, generator=generator)
    hps = [(lr, l1, l2, fold) for lr in (1e-3, 3e-3, 1e-2) for l1 in (0.0, 1e-3)
           for l2 in (0.0, 1e-3) for fold in range(folds)]
    kinds = {}
    for adam in (False, True):
        torch.manual_seed(int(adam))
        models = [nn.Sequential(nn.Linear(features, 5), nn.ReLU(), nn.Linear(5, 1)) for _ in hps]
        params, _ = stack_module_state(models)
        params = {k: v.detach().to(device) for k, v in params.items()}
        column = lambda i: torch.tensor([h[i] for h in hps], device=device)
        kinds[adam] = {"params": params, "lr": column(0), "l1": column(1), "l2": column(2),
                       "state": {k: [torch.zeros_like(v) for _ in range(2 if adam else 1)]
                                 for k, v in params.items()}}
    base = models[0].to("meta")

    def loss(p, xb, yb):
        return ((functional_call(base, p, (xb,))[:, 0] - yb) ** 2).mean()

    gradients = vmap(grad(loss))
    # Every model's batches, as jax_grid.py draws them: its fold's training rows shuffled each
    # epoch, drop_last; [steps, models, batch, features] on the device.
    index = torch.arange(rows)
    per_model = []
    for m, (_, _, _, fold) in enumerate(hps):
        train = index[index % folds != fold]
        g = torch.Generator().manual_seed(m)
        steps = len(train) // batch
        order = torch.cat([train[torch.randperm(len(train), generator=g)][:steps * batch]
                           for _ in range(epochs)])
        per_model.append(order.view(-1, batch))
    order = torch.stack(per_model, 1).to(device)
    xd, yd = x.to(device), y.to(device)

    def expand(v, like):
        return v.view(-1, *([1] * (like.dim() - 1)))

    def step(i, t):
        xb, yb = xd[order[i]], yd[order[i]]
        for adam, kind in kinds.items():
            p = kind["params"]
            g = gradients(p, xb, yb)
            for k in p:
                w = p[k]
                gk = g[k] + expand(kind["l2"], w) * w + expand(kind["l1"], w) * torch.sign(w)
                lr = expand(kind["lr"], w)
                if adam:
                    m, v = kind["state"][k]
                    m.mul_(0.9).add_(gk, alpha=0.1)
                    v.mul_(0.999).addcmul_(gk, gk, value=0.001)
                    c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
                    w.sub_(lr / c1 * m / (v.sqrt() / c2 ** 0.5 + 1e-8))
                else:
                    (s,) = kind["state"][k]
                    s.mul_(0.9).add_(gk)
                    w.sub_(lr * s)

    total = order.shape[0]
    step(0, 1)  # warm-up
    synchronize(device)
    t0 = time.perf_counter()
    for i in range(1, total):
        step(i, i + 1)
    synchronize(device)
    rate = 2 * len(hps) * (total - 1) / (time.perf_counter() - t0)
    print(f"grid (torch.func vmap, eager): {2 * len(hps)} models x {total} steps: {rate:,.0f} model-steps/s")
    return {"models": 2 * len(hps), "steps": total, "model_steps_per_s": rate}


def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def streaming(device, gb=4.0):
    """Samples/s of SGD on 100→32→1 at batch 1024, one epoch: data on the device (262,144
    rows) and `gb` gigabytes kept in host memory, each batch gathered there in the epoch's
    shuffled order and copied over through pinned memory (as `bench --stream-gb` measures)."""
    print(f"streaming: 100→32→1, SGD, batch 1024, samples/s (one epoch; {gb} GB from the host)")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 32), nn.ReLU(), nn.Linear(32, 1)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    def epoch(x, y, fetch):
        order = torch.randperm(x.shape[0], device=x.device)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for start in range(0, x.shape[0], 1024):
            xb, yb = fetch(x, y, order[start:start + 1024])
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xb), yb).backward()
            opt.step()
        torch.cuda.synchronize()
        return x.shape[0] / (time.perf_counter() - t0)

    on_device = lambda x, y, idx: (x[idx], y[idx])
    x, y = torch.rand(262_144, 100, device=device), torch.rand(262_144, 1, device=device)
    epoch(x, y, on_device)  # warm-up
    uploaded = epoch(x, y, on_device)
    del x, y
    rows = int(gb * 1e9 / (101 * 4))
    x, y = torch.rand(rows, 100), torch.rand(rows, 1)

    def from_host(x, y, idx):
        xb, yb = x[idx].pin_memory(), y[idx].pin_memory()
        return xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)

    streamed = epoch(x, y, from_host)
    print(f"  262144 rows on the device      {uploaded:>12.0f} samples/s")
    print(f"  {rows} rows from the host {streamed:>12.0f} samples/s  {streamed / uploaded:.2f}×")
    return {"uploaded_samples_per_s": uploaded, "host_rows": rows, "host_samples_per_s": streamed}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="torch.json", help="where to write the figures")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: these figures are for the GPU beside wgsl-train's")
    device = torch.device("cuda")
    report = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(device),
        "matmul": matmul(device),
        "optimizer": optimizer(device),
        "training": training(device),
        "grid": grid(device),
        "streaming": streaming(device),
    }
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
