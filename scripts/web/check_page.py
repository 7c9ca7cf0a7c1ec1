"""The demo page trains as the native diabetes example does: for the example's SGD and Adam
configurations, the page's train/validation/test MSE and epoch count (early stopping) equal
the table `cargo run --release --example diabetes` printed (given on stdin), to its precision;
and the page's comparison of the six (one grid, 5-fold cross-validation) gives the example's
cross-validation table (the library's `Sweep::classic` run natively): every configuration's
mean ± std validation MSE and rank, the chosen one and its test MSE.

    cargo run --release --example diabetes | python3 scripts/web/check_page.py URL
"""
import sys

import browser

# The example's configurations the page offers by default (web/main.js, examples/diabetes.rs).
CONFIGURATIONS = {"SGD": ("sgd", 0.01), "Adam": ("adam", 0.003)}


def example_rows(text):
    rows = {}
    for line in text.splitlines():
        name, *fields = line.rsplit(None, 8) if line else [""]
        if name in CONFIGURATIONS and len(fields) == 8:
            train, _, validation, _, test, _, epochs, _ = fields
            rows[name] = ([float(train), float(validation), float(test)], int(epochs.rstrip("*")))
    missing = set(CONFIGURATIONS) - set(rows)
    if missing:
        sys.exit(f"no {sorted(missing)} rows in the example's output")
    return rows


def cross_validation(text):
    """The example's cross-validation table: name -> (mean, std, rank); the chosen name and its
    test MSE."""
    rows, chosen = {}, None
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("5-fold cross-validation"))
    for line in lines[start + 2:start + 8]:
        name, mse, _, mse_std, _r2, _, _r2_std, rank = line.rsplit(None, 7)
        rows[name.strip()] = (float(mse), float(mse_std), int(rank))
    for line in lines[start + 8:]:
        if line.startswith("chosen by cross-validation: "):
            name = line.split(": ", 1)[1].split(" — ")[0]
            test = float(line.split("test MSE ")[1].split(",")[0])
            chosen = (name, test)
    if len(rows) != 6 or chosen is None:
        sys.exit("no cross-validation table in the example's output")
    return rows, chosen


def check_comparison(url, text):
    rows, (chosen, test_mse) = cross_validation(text)
    result = browser.compare(url)
    close = lambda got, want: abs(got - want) <= 0.05 + 1e-4 * abs(want)  # printed to 0.1
    for c in result["candidates"]:
        mean, std, rank = rows[c["name"]]
        (got_mean, got_std), got_rank = c["validation_mse"], c["rank"]
        if not (close(got_mean, mean) and close(got_std, std)):
            sys.exit(f"{c['name']}: the page gave {got_mean} ± {got_std}, rank {got_rank}; "
                     f"the native sweep {mean} ± {std}, rank {rank}")
    # The ranks agree wherever the printed means tell two configurations apart (two adapters
    # may order a tie at the printed precision either way).
    for a in result["candidates"]:
        for b in result["candidates"]:
            (mean_a, _, _), (mean_b, _, _) = rows[a["name"]], rows[b["name"]]
            if mean_a + 0.15 < mean_b and not a["rank"] < b["rank"]:
                sys.exit(f"the page ranks {a['name']} ({a['rank']}) below {b['name']} ({b['rank']}); "
                         f"natively its mean is lower ({mean_a} < {mean_b})")
    best = result["candidates"][result["best"]]["name"]
    if best != chosen or not close(result["test"]["model"]["mse"], test_mse):
        sys.exit(f"the page chose {best} (test MSE {result['test']['model']['mse']}), "
                 f"the native sweep {chosen} ({test_mse})")
    # The table the visitor sees: a header and the six, ranked.
    table = result["page_table"]
    if len(table) != 7 or [int(r[0]) for r in table[1:]] != sorted(c["rank"] for c in result["candidates"]):
        sys.exit(f"the page's table is not the six ranked: {table}")
    print(f"comparison: page and native sweep agree on all six (chosen {best}, test MSE {test_mse})")


def main(url):
    text = sys.stdin.read()
    rows = example_rows(text)
    for name, (optimizer, lr) in CONFIGURATIONS.items():
        result = browser.train(url, optimizer, lr, 0.0, 0.0, 500)
        got = [s["model"]["mse"] for s in result["scores"]]
        epochs = len(result["history"]["epochs"])
        want, want_epochs = rows[name]
        # The example prints one decimal; the adapters may differ in the last bits.
        close = all(abs(g - w) <= 0.05 + 1e-4 * abs(w) for g, w in zip(got, want))
        if not close or epochs != want_epochs:
            sys.exit(f"{name}: the page gave MSE {got} after {epochs} epochs on {result['adapter']}, "
                     f"the native example {want} after {want_epochs}")
        print(f"{name}: page and native example agree (MSE {[round(g, 1) for g in got]}, {epochs} epochs)")
    check_layers(url)
    check_comparison(url, text)


def check_layers(url):
    """The form's activation, initialisation, dropout and gradient clipping reach the training:
    Tanh with Xavier's draw, ReLU with Dropout 0.3, and ReLU clipped to a norm of 0.01 each
    train otherwise than the default ReLU with nn.Linear's, from the same seed."""
    runs = {layers: browser.train(url, "adam", 0.003, 0.0, 0.0, 3, *layers)
            for layers in (("relu", "default", 0.0, 0.0), ("tanh", "xavier_uniform", 0.0, 0.0),
                           ("relu", "default", 0.3, 0.0), ("relu", "default", 0.0, 0.01))}
    losses = {k: [e["train_loss"] for e in r["history"]["epochs"]] for k, r in runs.items()}
    if len(set(map(tuple, losses.values()))) != 4:
        sys.exit(f"the page's activation, init, dropout or clipping changes nothing: {losses}")
    print(f"activation, init, dropout and clipping: each trains otherwise than plain ReLU "
          f"({losses})")


if __name__ == "__main__":
    main(sys.argv[1])
