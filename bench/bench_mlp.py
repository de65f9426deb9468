"""Micro-benchmarks of the network: forward, and forward + backward + optimizer step.

4-64-64-2 tanh MLP at batch 64, float32 and float64; median microseconds per call.
    python bench/bench_mlp.py
"""
from __future__ import annotations

import numpy as np
from common import median_us, print_table, record

from numpy_ddqn.nn import MLP, SGD, Adam


def run(sizes=(4, 64, 64, 2), batch=64):
    rows = []
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(0)
        net = MLP(sizes, "tanh", dtype, rng)
        x = rng.normal(size=(batch, sizes[0])).astype(dtype)
        dout = rng.normal(size=(batch, sizes[-1])).astype(dtype)
        grad = np.empty(net.n_params, dtype)
        name = np.dtype(dtype).name
        rows.append({"bench": "mlp-forward", "dtype": name, "us": median_us(lambda: net(x))})
        rows.append({"bench": "mlp-forward-1", "dtype": name, "us": median_us(lambda: net(x[:1]))})
        for opt_name, opt in (("sgd", SGD(1e-4)), ("adam", Adam(1e-5))):
            def train_step():
                q, cache = net.forward(x)
                net.backward(dout, cache, out=grad)
                opt.step(net.flat, grad)
            rows.append({"bench": f"mlp-train-step-{opt_name}", "dtype": name, "us": median_us(train_step)})
    for r in rows:
        r.update(sizes="-".join(map(str, sizes)), batch=batch, activation="tanh")
    return rows


if __name__ == "__main__":
    rows = run()
    print_table(rows, ["bench", "dtype", "sizes", "batch", "us"])
    record(rows)
