"""Writes Parquet files as pyarrow, pandas and polars users write them, with the same table as
CSV beside them, under tests/golden/parquet/ (`tests/parquet.rs` reads them in CI without any
of the three). Run by hand where they are installed:

    python3 scripts/golden/parquet.py

Each library writes with its defaults (pyarrow: snappy; pandas: its pyarrow engine, with the
label column a pandas category, stored as a dictionary; polars: zstd, strings as views or
large strings), so the crate reads what these tools write, not only what arrow-rs writes.
Every feature value is a float32 (written as float64 where the library would), so the CSV
and the Parquet file hold the same numbers exactly. versions.json records the versions.
"""
import csv
import json
import os

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "golden", "parquet")


def table():
    rng = np.random.default_rng(21)
    rows = 23
    return {
        "age": rng.normal(50, 12, rows).astype(np.float32).astype(np.float64),
        "dose": rng.uniform(0, 1, rows).astype(np.float32),
        "visits": rng.integers(0, 40, rows).astype(np.int64),
        "smoker": rng.integers(0, 2, rows).astype(bool),
        "label": np.array(["low", "mid", "high"])[rng.integers(0, 3, rows)],
    }


def write_csv(columns, path):
    names = list(columns)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for i in range(len(columns["label"])):
            row = []
            for n in names:
                v = columns[n][i]
                if isinstance(v, (np.floating, float)):
                    row.append(repr(float(np.float32(v))))
                elif isinstance(v, (bool, np.bool_)):
                    row.append("1" if v else "0")
                else:
                    row.append(str(v))
            w.writerow(row)


def main():
    os.makedirs(OUT, exist_ok=True)
    columns = table()
    write_csv(columns, os.path.join(OUT, "table.csv"))
    pq.write_table(pa.table(columns), os.path.join(OUT, "pyarrow.parquet"))
    frame = pd.DataFrame(columns)
    frame["label"] = frame["label"].astype("category")
    frame.to_parquet(os.path.join(OUT, "pandas.parquet"))
    pl.DataFrame(columns).write_parquet(os.path.join(OUT, "polars.parquet"))
    versions = {"pyarrow": pa.__version__, "pandas": pd.__version__, "polars": pl.__version__,
                "generator": "scripts/golden/parquet.py"}
    with open(os.path.join(OUT, "versions.json"), "w") as f:
        json.dump(versions, f, indent=1)
        f.write("\n")
    for name in ("pyarrow", "pandas", "polars"):
        schema = pq.read_schema(os.path.join(OUT, f"{name}.parquet"))
        print(name, [f"{f.name}: {f.type}" for f in schema])


if __name__ == "__main__":
    main()
