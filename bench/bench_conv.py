"""Micro-benchmarks of the conv layer and the MinAtar network, one BLAS thread; median microseconds per call.

    python bench/bench_conv.py

conv: batch 32, 10x10x4 -> 8x8x16 (16 filters 3x3, 'valid', stride 1, float32), forward, backward with and
without the input gradient (a first layer skips it), forward + backward. The MinAtar network
(conv16x3,relu,flatten,dense128,relu -> 3 Q-values): forward at batch 1 (acting) and 32, and one DDQN update
(Double-DQN forward of s and s' together, target forward, backward, Adam step) at batch 32.
"""
from __future__ import annotations

import time

import numpy as np
from common import print_table, record

from numpy_ddqn import Config
from numpy_ddqn.nn.conv import conv2d_backward, conv2d_forward
from numpy_ddqn.nn.network import Network
from numpy_ddqn.rl.agent import DDQNAgent

LAYERS = "conv16x3,relu,flatten,dense128,relu"


def median_us(fn, number=200, repeat=15, warmup=50):
    """``{"us": wall, "cpu_us": process CPU}``: medians over ``repeat`` runs of the mean of ``number`` calls.

    The CPU time is what this process itself spent: on a machine shared with other work it is the steadier
    figure (the wall time also counts the time the scheduler gave to others).
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(number):
            fn()
        wall.append((time.perf_counter() - w0) / number * 1e6)
        cpu.append((time.process_time() - c0) / number * 1e6)
    return {"us": float(np.median(wall)), "cpu_us": float(np.median(cpu))}


def run(batch=32):
    rng = np.random.default_rng(0)
    x = (rng.random((batch, 10, 10, 4)) < 0.3).astype(np.float32)
    W = rng.normal(size=(3, 3, 4, 16)).astype(np.float32)
    b = np.zeros(16, np.float32)
    out, cols = conv2d_forward(x, W, b)
    g = rng.normal(size=out.shape).astype(np.float32)
    dW, db = np.empty_like(W), np.empty_like(b)

    def both():
        _, c = conv2d_forward(x, W, b)
        conv2d_backward(g, c, W, x.shape, dW=dW, db=db, need_dx=False)

    rows = [{"bench": "conv-forward", **median_us(lambda: conv2d_forward(x, W, b))},
            {"bench": "conv-backward", **median_us(lambda: conv2d_backward(g, cols, W, x.shape, dW=dW, db=db))},
            {"bench": "conv-backward-no-dx", **median_us(
                lambda: conv2d_backward(g, cols, W, x.shape, dW=dW, db=db, need_dx=False))},
            {"bench": "conv-forward-backward-no-dx", **median_us(both)}]
    for r in rows:
        r.update(batch=batch, shape="10x10x4->8x8x16", dtype="float32")
    net = Network((10, 10, 4), LAYERS, 3, rng=rng)
    agent = DDQNAgent((10, 10, 4), 3, Config.for_env("MinAtar/Breakout-v1"), "bool")
    frames = rng.random((1000, 10, 10, 4)) < 0.1
    for i in range(1000):
        agent.replay.add(frames[i], i % 3, 0.0, frames[(i + 1) % 1000], False, 0.99)
    net_rows = [{"bench": "minatar-net-forward-1", **median_us(lambda: net(x[:1]))},
                {"bench": "minatar-net-forward", **median_us(lambda: net(x))},
                {"bench": "minatar-ddqn-update", **median_us(agent.learn, number=50)}]
    for r in net_rows:
        r.update(batch=1 if r["bench"].endswith("-1") else batch, shape=LAYERS, dtype="float32")
    return rows + net_rows


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):        # as training runs: one BLAS thread
        rows = run()
    print_table(rows, ["bench", "shape", "batch", "dtype", "us", "cpu_us"])
    record(rows)
