"""minatar-speed: frames per second of the whole training loop on MinAtar Breakout, this project against the
published reference agent re-implemented in PyTorch (Young & Tian 2019, MinAtar's examples/dqn.py), interleaved.

Fixed work on both sides: the conv16x3 -> 128 -> Q network, batch 32, replay 100,000, one update per frame after
--learning-starts frames, a target sync every 1,000 frames, epsilon 1 -> 0.1 over 100,000 frames; --frames frames
per run, no evaluation. numpy_ddqn runs its preset (Double DQN, 3-step returns, Adam); the reference runs vanilla
DQN with centred RMSProp, as published. Each side gets one thread (torch.set_num_threads(1); one BLAS thread).
Reported per run: frames/s over the whole loop (wall) and per CPU-second of the process (steadier on a shared
machine); the table gives the medians and their ratio.

    python bench/bench_minatar_speed.py --repeats 2                # needs torch and minatar
    python bench/bench_minatar_speed.py --only numpy_ddqn          # without torch
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from common import print_table, record

REFERENCE = r'''
import random, sys, time
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
from minatar import Environment
torch.set_num_threads(1)
frames, starts, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
random.seed(seed); np.random.seed(seed); torch.manual_seed(seed)
env = Environment("breakout")                   # sticky actions 0.1, difficulty ramping, as published
env.seed(seed)
A, C = env.num_actions(), env.state_shape()[2]
class QNetwork(nn.Module):                       # MinAtar's examples/dqn.py
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(C, 16, kernel_size=3, stride=1)
        self.fc_hidden = nn.Linear(8 * 8 * 16, 128)
        self.output = nn.Linear(128, A)
    def forward(self, x):
        x = F.relu(self.conv(x))
        x = F.relu(self.fc_hidden(x.view(x.size(0), -1)))
        return self.output(x)
online, target = QNetwork(), QNetwork()
target.load_state_dict(online.state_dict())
opt = torch.optim.RMSprop(online.parameters(), lr=0.00025, alpha=0.95, centered=True, eps=0.01)
cap = 100_000
S = np.zeros((cap, C, 10, 10), np.uint8); S2 = np.zeros_like(S)
Aa = np.zeros(cap, np.int64); R = np.zeros(cap, np.float32); D = np.zeros(cap, np.float32)
n = 0
def state():
    return torch.tensor(env.state(), dtype=torch.float32).permute(2, 0, 1).unsqueeze(0)
env.reset(); s = state()
c0, w0 = time.process_time(), time.perf_counter()
for t in range(frames):
    eps = 1.0 if t < starts else max(0.1, 1.0 - 0.9 * (t - starts) / 100_000)
    if np.random.rand() < eps:
        a = np.random.randint(A)
    else:
        with torch.no_grad():
            a = int(online(s).argmax(1))
    r, done = env.act(a)
    s2 = state()
    i = n % cap
    S[i], S2[i], Aa[i], R[i], D[i] = s[0].numpy(), s2[0].numpy(), a, r, done
    n += 1
    if t >= starts:
        idx = np.random.randint(min(n, cap), size=32)
        bs, bs2 = torch.from_numpy(S[idx]).float(), torch.from_numpy(S2[idx]).float()
        ba, br, bd = torch.from_numpy(Aa[idx]), torch.from_numpy(R[idx]), torch.from_numpy(D[idx])
        q = online(bs).gather(1, ba.unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            y = br + 0.99 * (1 - bd) * target(bs2).max(1)[0]
        loss = F.smooth_l1_loss(q, y)
        opt.zero_grad(); loss.backward(); opt.step()
    if t % 1000 == 0:
        target.load_state_dict(online.state_dict())
    if done:
        env.reset(); s = state()
    else:
        s = s2
print(frames / (time.perf_counter() - w0), frames / (time.process_time() - c0))
'''

OURS = r'''
import sys, time
from numpy_ddqn import Config, train
frames, starts, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
config = Config.for_env("MinAtar/Breakout-v1", seed=seed, total_steps=frames, learning_starts=starts,
                        eval_interval=0, progress_interval=0, save_replay=False)
c0, w0 = time.process_time(), time.perf_counter()
train(config)                                     # set-up included: conservative for this side
print(frames / (time.perf_counter() - w0), frames / (time.process_time() - c0))
'''


def once(side, frames, starts, seed, python):
    code = OURS if side == "numpy_ddqn" else REFERENCE
    out = subprocess.run([python, "-c", code, str(frames), str(starts), str(seed)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{side} failed:\n{out.stderr[-2000:]}")
    wall, cpu = map(float, out.stdout.split()[-2:])
    return wall, cpu


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=10_000)
    p.add_argument("--learning-starts", type=int, default=2_000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--only", choices=["numpy_ddqn", "reference"])
    p.add_argument("--reference-python", default=sys.executable, help="a Python with torch and minatar")
    a = p.parse_args()
    sides = [a.only] if a.only else ["numpy_ddqn", "reference"]
    runs = {s: [] for s in sides}
    for r in range(a.repeats):                    # interleaved, so the machine's load hits both alike
        for side in sides:
            runs[side].append(once(side, a.frames, a.learning_starts, r,
                                   sys.executable if side == "numpy_ddqn" else a.reference_python))
            print(side, r, "frames/s wall %.1f, per CPU-second %.1f" % runs[side][-1], flush=True)
    rows = [{"bench": "minatar-speed", "side": s, "frames": a.frames, "learning_starts": a.learning_starts,
             "repeats": a.repeats, "frames_per_s": statistics.median(w for w, _ in v),
             "frames_per_cpu_s": statistics.median(c for _, c in v), "runs": v} for s, v in runs.items()]
    if len(rows) == 2:
        for key in ("frames_per_s", "frames_per_cpu_s"):
            rows[0][f"{key}_x_reference"] = rows[0][key] / rows[1][key]
    print_table(rows, ["side", "frames", "frames_per_s", "frames_per_cpu_s"])
    record(rows)


if __name__ == "__main__":
    main()
