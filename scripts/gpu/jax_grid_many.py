"""JAX's vmapped grid at the bench tool's large size: `../shared/peers/jax_grid.py`'s 120
models repeated (84 times: 10,080 models, 5,040 an optimizer), each copy with its own initial
weights and row orders as jax_grid.py gives every model; its three timings as it prints them.

    python3 scripts/gpu/jax_grid_many.py [copies=84] [epochs=20]   (jax_grid.py in .gpu/)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".gpu"))
import jax_grid  # noqa: E402

copies = int(sys.argv[1]) if len(sys.argv) > 1 else 84
epochs = sys.argv[2] if len(sys.argv) > 2 else "20"
one_grid = jax_grid.grid
jax_grid.grid = lambda folds=5: one_grid(folds) * copies
sys.argv = [sys.argv[0], epochs]
jax_grid.main()
