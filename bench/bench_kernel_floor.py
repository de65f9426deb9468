"""The kernel floor of one update, and the update's cost as a multiple of it.

Kernel floor: the time of only the NumPy kernels that a Double-DQN update of the fixed-work
configuration (../shared/BENCHMARK.md section 2: 4-64-64-2 tanh, batch 64, float32) cannot avoid,
called on the very arrays of a live agent, each once, into preallocated outputs:

    online forward over s and s' (128 rows)   x @ W0, tanh, h0 @ W1, tanh, h1 @ W2
    target forward over s' (64 rows)          the same five kernels
    backward (64 rows)                        h1.T @ dq, dq @ W2.T, h0.T @ dz1, dz1 @ W1.T, x.T @ dz0

11 matrix products and np.tanh over 4 arrays (384 x 64 elements). Everything else an update does
(bias adds, tanh', targets, loss, clipping, the SGD step, diagnostics, Python) is overhead over
it. The floor moves with the CPU, its SIMD level and its BLAS; ``update / kernel floor`` much less,
which makes it the figure to compare across machines.

Timed interleaved in one process, round by round (floor, update, sample + update), median of
``--repeats`` rounds; the ratio is the median of the per-round ratios. Also times float32 tanh
written with other NumPy kernels against np.tanh (time over 128 x 64, worst error in ulp against
the correctly rounded tanh over [-10, 10] and tiny arguments); one would replace np.tanh only if it
were both faster and as accurate (<= 1 ulp).

    python bench/bench_kernel_floor.py [--repeats 15]
One BLAS thread (threadpoolctl, as training uses). Rows go where bench/common.py's ``record`` puts them
(bench/out/results.jsonl, or $NUMPY_DDQN_RESULTS), each with the SIMD level and the BLAS.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bench_throughput import FIXED_WORK
from common import context, print_table, record

from numpy_ddqn.rl.agent import DDQNAgent

B = FIXED_WORK.batch_size


def fixed_work_agent(seed=0):
    """The fixed-work agent of bench_throughput.py (4-64-64-2 tanh, SGD, batch 64) with 5,000 random
    transitions stored."""
    agent = DDQNAgent(4, 2, FIXED_WORK.replace(seed=seed))
    rng = np.random.default_rng(seed)
    for _ in range(5_000):
        agent.replay.add(rng.normal(size=4).astype(np.float32), int(rng.integers(2)), 1.0,
                         rng.normal(size=4).astype(np.float32), False)
    return agent


def kernel_floor(agent, batch):
    """A function calling exactly the unavoidable kernels of one update of ``agent`` on ``batch``."""
    f32 = agent.online.dtype
    W0, _, W1, _, W2, _ = agent.online.params
    V0, _, V1, _, V2, _ = agent.target.params
    grads = agent.online.views(np.empty(agent.online.n_params, f32))
    dW0, dW1, dW2 = grads[0], grads[2], grads[4]
    x2 = np.concatenate((batch.obs, batch.next_obs))    # (2B, 4): s on top of s', as the update sees them
    x, x_next = x2[:B], x2[B:]
    z0, z1, q2 = np.empty((2 * B, 64), f32), np.empty((2 * B, 64), f32), np.empty((2 * B, 2), f32)
    t0, t1, qt = np.empty((B, 64), f32), np.empty((B, 64), f32), np.empty((B, 2), f32)
    dq = np.random.default_rng(2).normal(size=(B, 2)).astype(f32) / B
    dh1, dh0 = np.empty((B, 64), f32), np.empty((B, 64), f32)
    h0, h1 = z0[:B], z1[:B]                        # the s half of the online activations
    mm, tanh = np.matmul, np.tanh

    def floor():
        mm(x2, W0, out=z0); tanh(z0, out=z0); mm(z0, W1, out=z1); tanh(z1, out=z1); mm(z1, W2, out=q2)
        mm(x_next, V0, out=t0); tanh(t0, out=t0); mm(t0, V1, out=t1); tanh(t1, out=t1); mm(t1, V2, out=qt)
        mm(h1.T, dq, out=dW2); mm(dq, W2.T, out=dh1)
        mm(h0.T, dh1, out=dW1); mm(dh1, W1.T, out=dh0)   # dh1, dh0 stand in for dz1, dz0 (same shapes)
        mm(x.T, dh0, out=dW0)

    floor()
    return floor


def _mean_us(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number * 1e6


def interleaved(fns, repeats=15, number=200, warmup=50):
    """``{name: [mean us per call in round r]}``, the functions timed in turn within each round."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(_mean_us(fn, number))
    return times


# -- float32 tanh written with other NumPy kernels (candidates to replace np.tanh) ------------

def _tanh_exp(z, out, tmp, tmp2):                        # tanh z = 1 - 2 / (exp(2z) + 1): 5 calls
    np.multiply(z, 2.0, out=tmp)
    np.exp(tmp, out=tmp)
    tmp += 1.0
    np.divide(-2.0, tmp, out=out)
    out += 1.0
    return out


def _tanh_expm1(z, out, tmp, tmp2):                      # tanh z = expm1(2z) / (expm1(2z) + 2): 4 calls
    np.multiply(z, 2.0, out=tmp)
    np.expm1(tmp, out=tmp)
    np.add(tmp, 2.0, out=out)
    return np.divide(tmp, out, out=out)


_P = [-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
      1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03]
_Q = [1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03]


def _tanh_rational(z, out, x2, p):                 # Eigen's float32 13/6 rational tanh: ~25 calls
    c = np.float32(7.90531110763549805)
    np.minimum(z, c, out=out)
    np.maximum(out, -c, out=out)                   # clamp: beyond it tanh is 1 in float32
    np.multiply(out, out, out=x2)
    p.fill(_P[0])
    for a in _P[1:]:
        p *= x2
        p += np.float32(a)
    p *= out                                       # odd numerator p(z)
    q = np.multiply(x2, np.float32(_Q[0]), out=out)
    for a in _Q[1:]:
        q += np.float32(a)
        if a is not _Q[-1]:
            q *= x2                                # even denominator q(z)
    return np.divide(p, q, out=out)


TANH_CANDIDATES = {"exp": _tanh_exp, "expm1": _tanh_expm1, "rational": _tanh_rational}


def max_ulp(f):
    """Worst error of a float32 tanh in units in the last place, against float64 tanh rounded."""
    z = np.concatenate([np.linspace(-10, 10, 200_001), 10.0 ** -np.arange(1, 38), -(10.0 ** -np.arange(1, 38))])
    z = z.astype(np.float32)
    exact = np.tanh(z.astype(np.float64)).astype(np.float32)
    got = f(z, np.empty_like(z), np.empty_like(z), np.empty_like(z))
    return float(np.max(np.abs(got.astype(np.float64) - exact) / np.spacing(np.abs(exact)).astype(np.float64)))


def run(repeats=15):
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):                     # one BLAS thread, as training uses
        return _run(repeats)


def _run(repeats):
    agent = fixed_work_agent()
    batch = agent.replay.sample(B, agent.rngs.replay)
    floor = kernel_floor(agent, batch)
    sample_update = lambda: agent.update(agent.replay.sample(B, agent.rngs.replay))
    times = interleaved({"floor": floor, "update": lambda: agent.update(batch),
                         "sample+update": sample_update}, repeats)
    ratios = [u / f for u, f in zip(times["update"], times["floor"])]
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [{"bench": "kernel-floor", "us": med["floor"], "kernels": "11 matmul + 4 tanh"},
            {"bench": "update", "us": med["update"], "x_floor": statistics.median(ratios)},
            {"bench": "sample+update", "us": med["sample+update"],
             "x_floor": statistics.median(s / f for s, f in zip(times["sample+update"], times["floor"]))}]
    # tanh candidates, interleaved with np.tanh over the online net's 128 x 64 pre-activations
    rng = np.random.default_rng(0)
    z = (1.5 * rng.normal(size=(2 * B, 64))).astype(np.float32)
    out, tmp, tmp2 = np.empty_like(z), np.empty_like(z), np.empty_like(z)
    fns = {"np.tanh": lambda: np.tanh(z, out=out)}
    fns.update({name: (lambda f=f: f(z, out, tmp, tmp2)) for name, f in TANH_CANDIDATES.items()})
    t = interleaved(fns, max(5, repeats // 3), number=100)
    ref = statistics.median(t["np.tanh"])
    errors = {"np.tanh": max_ulp(lambda z, out, *_: np.tanh(z, out=out))}
    errors.update({name: max_ulp(f) for name, f in TANH_CANDIDATES.items()})
    for name, ts in t.items():
        rows.append({"bench": "tanh-128x64", "variant": name, "us": statistics.median(ts),
                     "x_np_tanh": statistics.median(ts) / ref, "max_ulp": errors[name]})
    for r in rows:
        r.update(sizes="4-64-64-2", batch=B, dtype="float32", repeats=repeats)
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=15)
    a = p.parse_args()
    ctx = context()
    print(f"NumPy {np.__version__}, SIMD dispatched: {ctx.get('simd')}; BLAS: {ctx.get('blas')}")
    rows = run(a.repeats)
    print_table(rows, ["bench", "variant", "us", "x_floor", "x_np_tanh", "max_ulp"])
    record(rows)
