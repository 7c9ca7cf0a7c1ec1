"""The demo page trains as the native diabetes example does: for the example's SGD and Adam
configurations, the page's train/validation/test MSE and epoch count (early stopping) equal
the table `cargo run --release --example diabetes` printed (given on stdin), to its precision.

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


def main(url):
    rows = example_rows(sys.stdin.read())
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


if __name__ == "__main__":
    main(sys.argv[1])
