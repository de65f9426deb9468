"""The hot-path cost of issue 23's checks, per call: the code before (copied from e45ef66) against the code
after, interleaved in one process (paired rounds, medians).

- store check: ``Run._check_obs`` on every observation stored (the bits/bytes cast check is new);
- step_env: the signal guard's interruptible region around ``env.step`` (new), on an env whose step is free;
- acting input: ``as_observation`` (NaN/inf/object/complex refused) where ``np.asarray(obs, dtype)`` was.

    OPENBLAS_NUM_THREADS=1 python bench/bench_checks.py
"""
import math
import timeit

import gymnasium as gym
import numpy as np

from numpy_ddqn import DDQN
from numpy_ddqn.config import Config
from numpy_ddqn.errors import EnvError
from numpy_ddqn.policy import as_observation
from numpy_ddqn.run.runner import Run

ROUNDS = 15
QUIET = dict(eval_interval=0, progress_interval=0.0, total_steps=10)


class Img(gym.Env):
    """Constant frames of ``shape`` and ``dtype``."""
    action_space = gym.spaces.Discrete(2)

    def __init__(self, dtype, shape=(10, 10, 4)):
        self.observation_space = gym.spaces.Box(0, 1 if dtype is bool else 255, shape, dtype)
        self.obs = np.zeros(shape, dtype)

    def reset(self, seed=None, options=None):
        return self.obs, {}

    def step(self, action):
        return self.obs, 0.0, False, False, {}


class Flat(Img):
    """Constant float32 vectors of 4."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(-1, 1, (4,), np.float32)
        self.obs = np.zeros(4, np.float32)


def old_check_obs(self, obs, step, what, shape=None):       # e45ef66's Run._check_obs
    x = np.asarray(obs, dtype=self.obs_dtype)
    if x.shape != (shape or self.obs_shape):
        raise EnvError("shape")
    if not math.isfinite(float(np.add.reduce(x, axis=None))) and not np.all(np.isfinite(x)):
        raise EnvError("finite")
    return x


def old_step_env(self, action):                              # e45ef66's Run.step_env
    step = self.agent.steps + 1
    try:
        obs, reward, terminated, truncated, _ = self.env.step(action)
    except Exception as e:
        raise EnvError(f"{self.env_id}.step() raised at env step {step}: {type(e).__name__}: {e}") from e
    obs = self._check_obs(obs, step, "observation")
    if type(reward) is not float:
        reward = self._scalar_reward(reward, step)
    if not math.isfinite(reward):
        raise EnvError("reward")
    return obs, reward, bool(terminated), bool(truncated)


def ns(f, n):
    """Nanoseconds per call of ``f`` (the best of 3 repeats of ``n`` calls)."""
    return min(timeit.repeat(f, number=n, repeat=3)) / n * 1e9


def cases():
    """``[(name, before, after), ...]``."""
    out = []
    run, o = Run(Config(**QUIET), Flat()), np.array([0.01, 0.02, 0.03, 0.04], np.float32)
    out.append(("store check, float32 (4,) obs", lambda: old_check_obs(run, o, 1, "o"),
                lambda: run._check_obs(o, 1, "o")))
    out.append(("step_env, float32 (4,), env.step ~free", lambda: old_step_env(run, 0), lambda: run.step_env(0)))
    for dt in (bool, np.uint8):
        r = Run(Config(**QUIET, layers="conv16x3,relu,flatten"), Img(dt))
        for given in (dt, np.int64):
            x = np.zeros((10, 10, 4), given)
            name = f"store check, {np.dtype(dt)} (10,10,4) obs given as {np.dtype(given)}"
            out.append((name, lambda r=r, x=x: old_check_obs(r, x, 1, "o"), lambda r=r, x=x: r._check_obs(x, 1, "o")))
    f32, ol = np.dtype(np.float32), [0.01, 0.02, 0.03, 0.04]
    out.append(("acting input, one float32 obs", lambda: np.asarray(o, dtype=f32), lambda: as_observation(o, f32)))
    out.append(("acting input, one list obs", lambda: np.asarray(ol, dtype=f32), lambda: as_observation(ol, f32)))
    return out, o


def main():
    measured, o = cases()
    model = DDQN("CartPole-v1", **{**QUIET, "total_steps": 64, "learning_starts": 32, "batch_size": 8})
    model.learn(64)
    policy = model.policy()
    totals = {"Policy.act one obs (after, whole call)": lambda: policy.act(o),
              "model.predict one obs (after, whole call)": lambda: model.predict(o)}
    res = {name: ([], []) for name, _, _ in measured}
    tot = {name: [] for name in totals}
    for r in range(ROUNDS):
        for name, before, after in measured:
            pair = (before, after) if r % 2 == 0 else (after, before)    # alternate which goes first
            first, second = ns(pair[0], 20000), ns(pair[1], 20000)
            b, a = (first, second) if r % 2 == 0 else (second, first)
            res[name][0].append(b)
            res[name][1].append(a)
        for name, f in totals.items():
            tot[name].append(ns(f, 5000))
    for name, (b, a) in res.items():
        added = np.median(np.array(a) - np.array(b))
        print(f"{name}: before {np.median(b):.0f} ns, after {np.median(a):.0f} ns, added {added:+.0f} ns "
              f"(median of {ROUNDS} paired rounds)")
    for name, v in tot.items():
        print(f"{name}: {np.median(v):.0f} ns")


if __name__ == "__main__":
    main()
