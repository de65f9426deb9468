"""What the DQN family's math costs per update, against the default update (issues 25, 26, 28).

The family members are not wired into the agent yet, so each is timed as a *sketch update*: the same
steps as ``DDQNAgent.gradient`` + an SGD step (online forward over s and s', target forward over s',
targets, loss, backward, parameter step), written with the package's layers and the new modules, at
the shapes that matter: CartPole (4 inputs, 2 actions), 2 hidden layers of 64 tanh units, batch 64,
float32, one BLAS thread. The default (Double DQN, Huber) is timed the same way, and the ratio of each
sketch to the default sketch estimates the per-update cost the issues target:

    C51 (51 atoms) and QR-DQN <= 1.5x, IQN <= 2.5x, noisy <= 1.3x, Munchausen <= 1.2x the default's

The real ``DDQNAgent.update`` at the default Config (Adam, n-step, gradient clipping) is timed beside
them, so the sketch's distance from the real update shows, and "x real update (est.)" = 1 + (variant
sketch - default sketch) / real update: the real update plus the work the variant adds. Variants are
interleaved round by round; each figure is the median over rounds (and the best round, steadier on a
loaded machine), each ratio the median of the per-round ratios ("x (best)": the ratio of the best
rounds); "plausible" says yes (no) when at least 80% of the rounds' estimates meet (miss) the target,
unclear otherwise. A second table times each new function alone (forward + backward where it has one).

    python bench/bench_family_math.py [--rounds 7] [--number 40]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from common import print_table, record

from numpy_ddqn.config import Config
from numpy_ddqn.nn.cosine import (cosine_embedding_backward, cosine_embedding_forward, hadamard_backward,
                                  hadamard_forward, init_cosine_embedding)
from numpy_ddqn.nn.layernorm import init_layernorm, layernorm_backward, layernorm_forward
from numpy_ddqn.nn.layers import linear_backward, linear_forward, tanh_backward
from numpy_ddqn.nn.losses import td_loss
from numpy_ddqn.nn.noisy import (FactorisedNoise, init_noisy_linear, noisy_linear_backward, noisy_linear_forward,
                                 sample_noise)
from numpy_ddqn.rl.agent import DDQNAgent
from numpy_ddqn.rl.categorical import (categorical_cross_entropy, categorical_double_q_targets,
                                       categorical_projection, categorical_support)
from numpy_ddqn.rl.masks import masked_argmax, pack_masks, random_legal_actions, unpack_masks
from numpy_ddqn.rl.munchausen import munchausen_targets
from numpy_ddqn.rl.quantile import quantile_double_q_targets, quantile_huber_loss, quantile_midpoints
from numpy_ddqn.rl.targets import double_dqn_targets

B, OBS, A, H = 64, 4, 2, 64
N_ATOMS, N_QUANTILES, N_COS, N_TAUS = 51, 200, 64, 8
F32 = np.float32
LR = 1e-3


# -- a plain tanh MLP from the package's layers (the agent's MLP class is not used: a sketch stays readable) --

def dense_init(sizes, rng):                          # -> [(W, b), ...]
    """Fan-in uniform weights, zero biases, float32."""
    return [((rng.uniform(-1, 1, (m, n)) / np.sqrt(m)).astype(F32), np.zeros(n, F32)) for m, n in zip(sizes, sizes[1:])]


def dense_forward(x, layers, norms=None):            # x: (R, n_in) -> out: (R, n_out), cache
    """tanh hidden layers (LayerNorm before each tanh if ``norms``), a linear output; the cache holds each
    layer's input and each LayerNorm's cache."""
    inputs, ln_caches = [x], []
    for i, (W, b) in enumerate(layers[:-1]):
        z = linear_forward(x, W, b)
        if norms is not None:
            z, c = layernorm_forward(z, norms[i])
            ln_caches.append(c)
        x = np.tanh(z)
        inputs.append(x)
    return linear_forward(x, *layers[-1]), (inputs, ln_caches)


def dense_backward(dout, cache, layers, need_dx=False):   # dout: (R', n_out) -> grads, LayerNorm grads, dx
    """Backward of ``dense_forward`` for the first R' rows of its cache (the s half of an s, s' forward);
    dx (the input's gradient) only with ``need_dx``."""
    inputs, ln_caches = cache
    rows = dout.shape[0]
    grads, ln_grads, dz = [], [], dout
    for i in reversed(range(len(layers))):
        dx, dW, db = linear_backward(dz, inputs[i][:rows], layers[i][0], need_dx=i > 0 or need_dx)
        grads.append((dW, db))
        if i > 0:
            dz = tanh_backward(dx, inputs[i][:rows])
            if ln_caches:
                x_hat, inv_std, gain = ln_caches[i - 1]
                dz, g = layernorm_backward(dz, (x_hat[:rows], inv_std[:rows], gain))
                ln_grads.append(g)
    return grads[::-1], ln_grads[::-1], dx


def sgd(params, grads):
    """p -= lr g, in place."""
    for p, g in zip(params, grads):
        p -= LR * g


def flat_pairs(layers):
    """[(W, b), ...] -> [W, b, ...]."""
    return [p for pair in layers for p in pair]


def make_batch(rng):
    """A fixed batch of CartPole-shaped transitions (n-step discounts gamma^5)."""
    return dict(s=rng.normal(size=(B, OBS)).astype(F32), s_next=rng.normal(size=(B, OBS)).astype(F32),
                a=rng.integers(0, A, B), r=rng.normal(size=B).astype(F32),
                term=(rng.random(B) < 0.1).astype(F32), disc=np.full(B, 0.99 ** 5, F32))


# -- one sketch update per family member --------------------------------------------------------------------

def double_dqn_step(rng, batch, n_out=A):
    """The default: Double DQN with the Huber loss."""
    online = dense_init((OBS, H, H, n_out), rng)
    target = [(W.copy(), b.copy()) for W, b in online]
    s2 = np.concatenate((batch["s"], batch["s_next"]))

    def step():
        out, cache = dense_forward(s2, online)                     # (2B, A): s on top of s'
        q_next_target = dense_forward(batch["s_next"], target)[0]
        y = double_dqn_targets(batch["r"], batch["term"], out[B:], q_next_target, batch["disc"])
        _, dq, _ = td_loss(out[:B], batch["a"], y)
        grads, _, _ = dense_backward(dq, cache, online)
        sgd(flat_pairs(online), flat_pairs(grads))
    return step


def c51_step(rng, batch):
    """C51 with Rainbow's Double selection: A x 51 logits, projection, cross-entropy."""
    online = dense_init((OBS, H, H, A * N_ATOMS), rng)
    target = [(W.copy(), b.copy()) for W, b in online]
    z = categorical_support(-10.0, 10.0, N_ATOMS)
    s2 = np.concatenate((batch["s"], batch["s_next"]))

    def step():
        out, cache = dense_forward(s2, online)
        logits = out.reshape(2 * B, A, N_ATOMS)
        logits_target = dense_forward(batch["s_next"], target)[0].reshape(B, A, N_ATOMS)
        m = categorical_double_q_targets(batch["r"], batch["term"], batch["disc"], logits[B:], logits_target, z)
        _, dlogits, _ = categorical_cross_entropy(logits[:B], batch["a"], m)
        grads, _, _ = dense_backward(dlogits.reshape(B, A * N_ATOMS), cache, online)
        sgd(flat_pairs(online), flat_pairs(grads))
    return step


def qr_step(rng, batch, n=N_QUANTILES):
    """QR-DQN: A x n quantiles, Double selection by the mean, the quantile Huber loss over n x n pairs."""
    online = dense_init((OBS, H, H, A * n), rng)
    target = [(W.copy(), b.copy()) for W, b in online]
    taus = quantile_midpoints(n)
    s2 = np.concatenate((batch["s"], batch["s_next"]))

    def step():
        out, cache = dense_forward(s2, online)
        theta = out.reshape(2 * B, A, n)
        theta_target = dense_forward(batch["s_next"], target)[0].reshape(B, A, n)
        T = quantile_double_q_targets(batch["r"], batch["term"], batch["disc"], theta[B:], theta_target)
        _, dtheta, _ = quantile_huber_loss(theta[:B], batch["a"], T, taus)
        grads, _, _ = dense_backward(dtheta.reshape(B, A * n), cache, online)
        sgd(flat_pairs(online), flat_pairs(grads))
    return step


def iqn_step(rng, batch, n_taus=N_TAUS):
    """IQN: psi(s) = tanh(s W0 + b0), phi(tau) from 64 cosines, psi * phi, then 64 tanh -> A; ``n_taus`` taus
    each for s, s' (online, Double selection) and s' (target)."""
    torso, emb = dense_init((OBS, H), rng)[0], init_cosine_embedding(N_COS, H, rng)
    head = dense_init((H, H, A), rng)
    torso_t, emb_t = (torso[0].copy(), torso[1].copy()), {k: v.copy() for k, v in emb.items()}
    head_t = [(W.copy(), b.copy()) for W, b in head]

    def forward(x, taus, torso, emb, head):          # x: (R, OBS), taus: (R, N) -> theta: (R, A, N), caches
        psi = np.tanh(linear_forward(x, *torso))                   # (R, H)
        phi, c_phi = cosine_embedding_forward(taus, emb)           # (R, N, H)
        h, c_mix = hadamard_forward(psi, phi)                      # (R, N, H)
        R, N = taus.shape
        out, c_head = dense_forward(h.reshape(R * N, H), head)     # (R N, A)
        return out.reshape(R, N, A).transpose(0, 2, 1), (x, psi, c_phi, c_mix, c_head)

    def step():
        taus = rng.random((3 * B, n_taus), dtype=F32)              # s, s' (online) and s' (target)
        theta, (x, psi, c_phi, c_mix, c_head) = forward(batch["s"], taus[:B], torso, emb, head)
        theta_next_online = forward(batch["s_next"], taus[B:2 * B], torso, emb, head)[0]
        theta_next_target = forward(batch["s_next"], taus[2 * B:], torso_t, emb_t, head_t)[0]
        T = quantile_double_q_targets(batch["r"], batch["term"], batch["disc"], theta_next_online, theta_next_target)
        _, dtheta, _ = quantile_huber_loss(theta, batch["a"], T, taus[:B])
        dout = dtheta.transpose(0, 2, 1).reshape(B * n_taus, A)      # back to the head's (R N, A) rows
        g_head, _, dh = dense_backward(dout, c_head, head, need_dx=True)
        dpsi, dphi = hadamard_backward(dh.reshape(B, n_taus, H), c_mix)
        _, g_emb = cosine_embedding_backward(dphi, c_phi)
        _, dW0, db0 = linear_backward(tanh_backward(dpsi, psi), x, torso[0], need_dx=False)
        sgd(flat_pairs(head) + [emb["W"], emb["b"], *torso], flat_pairs(g_head) + [g_emb["W"], g_emb["b"], dW0, db0])
    return step


def noisy_step(rng, batch):
    """Noisy nets: every linear layer factorised-noisy, fresh noise for the online and the target net each
    update. The weights of a draw are built once (W = mu_W + sigma_W * eps_W, as noisy_linear_forward does)
    and run through the same helpers as the default, so the difference is the noise's work only."""
    sizes = (OBS, H, H, A)
    online = [init_noisy_linear(m, n, rng) for m, n in zip(sizes, sizes[1:])]
    target = [{k: v.copy() for k, v in p.items()} for p in online]
    s2 = np.concatenate((batch["s"], batch["s_next"]))
    blocks = [np.empty((m + 1, n), F32) for m, n in 2 * list(zip(sizes, sizes[1:]))]   # [eps_W; eps_b] per layer
    noise = FactorisedNoise(blocks)
    noise_online, noise_target = ([{"eps_W": k[:-1], "eps_b": k[-1]} for k in half] for half in (blocks[:3], blocks[3:]))

    def weights(params, noises):                     # -> [(W, b), ...] of this draw
        return [(p["mu_W"] + p["sigma_W"] * n["eps_W"], p["mu_b"] + p["sigma_b"] * n["eps_b"])
                for p, n in zip(params, noises)]

    def step():
        noise.draw(rng)                              # both nets' noise in one Generator call, as the agent
        layers = weights(online, noise_online)
        out, cache = dense_forward(s2, layers)
        q_next_target = dense_forward(batch["s_next"], weights(target, noise_target))[0]
        y = double_dqn_targets(batch["r"], batch["term"], out[B:], q_next_target, batch["disc"])
        _, dq, _ = td_loss(out[:B], batch["a"], y)
        grads, _, _ = dense_backward(dq, cache, layers)
        params, flat = [], []
        for p, n, (dW, db) in zip(online, noise_online, grads):   # noisy_linear_backward's four gradients
            params += [p["mu_W"], p["sigma_W"], p["mu_b"], p["sigma_b"]]
            flat += [dW, dW * n["eps_W"], db, db * n["eps_b"]]
        sgd(params, flat)
    return step


def munchausen_step(rng, batch):
    """Munchausen DQN: the target net over s and s' (log-policy bonus, soft bootstrap), the online net over s."""
    online = dense_init((OBS, H, H, A), rng)
    target = [(W.copy(), b.copy()) for W, b in online]
    s2 = np.concatenate((batch["s"], batch["s_next"]))

    def step():
        q, cache = dense_forward(batch["s"], online)
        q_target_both = dense_forward(s2, target)[0]               # (2B, A)
        y = munchausen_targets(batch["r"], batch["term"], batch["disc"], batch["a"], q_target_both[:B],
                               q_target_both[B:])
        _, dq, _ = td_loss(q, batch["a"], y)
        grads, _, _ = dense_backward(dq, cache, online)
        sgd(flat_pairs(online), flat_pairs(grads))
    return step


def layernorm_step(rng, batch):
    """Double DQN with LayerNorm after each hidden linear layer, before tanh (Gallici et al. 2024)."""
    online = dense_init((OBS, H, H, A), rng)
    norms = [init_layernorm(H), init_layernorm(H)]
    target = [(W.copy(), b.copy()) for W, b in online]
    norms_t = [{k: v.copy() for k, v in n.items()} for n in norms]
    s2 = np.concatenate((batch["s"], batch["s_next"]))

    def step():
        out, cache = dense_forward(s2, online, norms)
        q_next_target = dense_forward(batch["s_next"], target, norms_t)[0]
        y = double_dqn_targets(batch["r"], batch["term"], out[B:], q_next_target, batch["disc"])
        _, dq, _ = td_loss(out[:B], batch["a"], y)
        grads, ln_grads, _ = dense_backward(dq, cache, online)
        sgd(flat_pairs(online) + [v for n in norms for v in n.values()],
            flat_pairs(grads) + [v for g in ln_grads for v in g.values()])
    return step


def real_default_update(rng):
    """The real thing: ``DDQNAgent.update`` at the default Config (Adam, Double, n-step discount, clipping)."""
    agent = DDQNAgent(OBS, A, Config(batch_size=B))
    for _ in range(2_000):
        agent.replay.add(rng.normal(size=OBS).astype(F32), int(rng.integers(A)), 1.0,
                         rng.normal(size=OBS).astype(F32), False, 0.99 ** 5)   # n-step: gamma^m stored
    batch = agent.replay.sample(B, agent.rngs.replay)
    return lambda: agent.update(batch)


SKETCHES = {"default (Double DQN)": double_dqn_step, "C51, 51 atoms": c51_step,
            "QR-DQN, 200 quantiles": qr_step, "QR-DQN, 51 quantiles": lambda rng, b: qr_step(rng, b, 51),
            "QR-DQN, 16 quantiles": lambda rng, b: qr_step(rng, b, 16),
            "IQN, 64 cos, 8+8+8 taus": iqn_step, "IQN, 64 cos, 2+2+2 taus": lambda rng, b: iqn_step(rng, b, 2),
            "noisy (3 layers)": noisy_step, "Munchausen": munchausen_step, "LayerNorm (2 layers)": layernorm_step}
TARGETS = {"C51, 51 atoms": 1.5, "QR-DQN, 200 quantiles": 1.5, "QR-DQN, 51 quantiles": 1.5,
           "QR-DQN, 16 quantiles": 1.5, "IQN, 64 cos, 8+8+8 taus": 2.5, "IQN, 64 cos, 2+2+2 taus": 2.5,
           "noisy (3 layers)": 1.3, "Munchausen": 1.2}


def pieces(rng):
    """Each new function alone, at the bench's shapes: name -> a call."""
    f = lambda *shape: rng.normal(size=shape).astype(F32)
    batch = make_batch(rng)
    r, term, disc, a = batch["r"], batch["term"], batch["disc"], batch["a"]
    z = categorical_support(-10.0, 10.0, N_ATOMS)
    logits, probs = f(B, A, N_ATOMS), np.full((B, N_ATOMS), 1 / N_ATOMS, F32)
    q200, q51, q8 = f(B, A, N_QUANTILES), f(B, A, 51), f(B, A, N_TAUS)
    mid200, mid51, taus8 = quantile_midpoints(N_QUANTILES), quantile_midpoints(51), rng.random((B, N_TAUS), F32)
    T200, T51, T8 = f(B, N_QUANTILES), f(B, 51), f(B, N_TAUS)
    emb, tau_emb, psi = init_cosine_embedding(N_COS, H, rng), rng.random((B, N_TAUS), F32), f(B, H)
    noisy, noise, x = init_noisy_linear(H, H, rng), sample_noise(H, H, rng), f(2 * B, H)
    two_nets_noise = FactorisedNoise([np.empty((m + 1, n), F32) for m, n in 2 * list(zip((OBS, H, H), (H, H, A)))])
    W, b, ln = f(H, H), f(H), init_layernorm(H)
    q, q2, mask = f(B, A), f(B, A), np.ones((B, A), bool)

    def cosine_fwd_bwd():
        phi, c_phi = cosine_embedding_forward(tau_emb, emb)
        h, c_mix = hadamard_forward(psi, phi)
        _, dphi = hadamard_backward(h, c_mix)
        cosine_embedding_backward(dphi, c_phi)

    def noisy_fwd_bwd():
        y, c = noisy_linear_forward(x, noisy, noise)
        noisy_linear_backward(y, c)

    def linear_fwd_bwd():
        y = linear_forward(x, W, b)
        linear_backward(y, x, W)

    def layernorm_fwd_bwd():
        y, c = layernorm_forward(x, ln)
        layernorm_backward(y, c)

    return {
        "double_dqn_targets (B, 2)": lambda: double_dqn_targets(r, term, q, q2, disc),
        "td_loss huber (B, 2)": lambda: td_loss(q, a, r),
        "categorical_projection (B, 51)": lambda: categorical_projection(probs, r, term, disc, z),
        "categorical_double_q_targets (B, 2, 51)": lambda: categorical_double_q_targets(r, term, disc, logits,
                                                                                       logits, z),
        "categorical_cross_entropy (B, 2, 51)": lambda: categorical_cross_entropy(logits, a, probs),
        "quantile_double_q_targets (B, 2, 200)": lambda: quantile_double_q_targets(r, term, disc, q200, q200),
        "quantile_huber_loss 200 x 200": lambda: quantile_huber_loss(q200, a, T200, mid200),
        "quantile_huber_loss 51 x 51": lambda: quantile_huber_loss(q51, a, T51, mid51),
        "quantile_huber_loss IQN 8 x 8": lambda: quantile_huber_loss(q8, a, T8, taus8),
        "cosine embedding + mix fwd/bwd (B, 8, 64)": cosine_fwd_bwd,
        "sample_noise 64 x 64": lambda: sample_noise(H, H, rng),
        "FactorisedNoise.draw 4-64-64-2, two nets": lambda: two_nets_noise.draw(rng),
        "noisy linear fwd/bwd (2B, 64 -> 64)": noisy_fwd_bwd,
        "linear fwd/bwd (2B, 64 -> 64)": linear_fwd_bwd,
        "layernorm fwd/bwd (2B, 64)": layernorm_fwd_bwd,
        "munchausen_targets (B, 2)": lambda: munchausen_targets(r, term, disc, a, q, q2),
        "masked_argmax (B, 2)": lambda: masked_argmax(q, mask),
        "random_legal_actions (B, 2)": lambda: random_legal_actions(mask, rng),
        "pack + unpack masks (B, 2)": lambda: unpack_masks(pack_masks(mask), A),
    }


def mean_us(fn, number):
    """Mean time of ``number`` calls of ``fn()``, in microseconds."""
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number * 1e6


def run(rounds=7, number=40):
    """Time every sketch update and every piece, interleaved round by round; return the two tables' rows."""
    rng = np.random.default_rng(0)
    batch = make_batch(rng)
    steps = {name: make(np.random.default_rng(1), batch) for name, make in SKETCHES.items()}
    steps["real DDQNAgent.update (default Config)"] = real_default_update(np.random.default_rng(2))
    for fn in steps.values():                                     # warm up (workspaces, caches)
        for _ in range(10):
            fn()
    times = {name: [] for name in steps}
    for _ in range(rounds):                                       # interleaved: every variant once a round
        for name, fn in steps.items():
            times[name].append(mean_us(fn, number))
    base, real = times["default (Double DQN)"], times["real DDQNAgent.update (default Config)"]
    rows = []
    for name, ts in times.items():
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        # the real update plus what the variant adds over the default sketch, in units of the real update
        ests = [1.0 + (t - b) / r for t, b, r in zip(ts, base, real)]
        est = statistics.median(ests)
        target = TARGETS.get(name)
        below = sum(e <= target for e in ests) / len(ests) if target else 0.0   # rounds that meet the target
        rows.append({"bench": "family-update", "variant": name, "us": statistics.median(ts), "best us": min(ts),
                     "x default sketch": ratio, "x (best)": min(ts) / min(base),
                     "x real update (est.)": est if name in SKETCHES else "",
                     "target": f"<= {target}x" if target else "",
                     "plausible": ("yes" if below >= 0.8 else "no" if below <= 0.2 else "unclear") if target else ""})
    piece_rows = []
    calls = pieces(np.random.default_rng(3))
    piece_times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            piece_times[name].append(mean_us(fn, 4 * number))
    for name, ts in piece_times.items():
        piece_rows.append({"bench": "family-piece", "variant": name, "us": statistics.median(ts), "best us": min(ts)})
    return rows, piece_rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=40, help="calls per timing (pieces: 4x this)")
    args = parser.parse_args()
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        print("threadpoolctl missing: set OPENBLAS_NUM_THREADS=1 yourself")
    update_rows, piece_rows = run(args.rounds, args.number)
    print(f"one sketch update: batch {B}, {OBS}-{H}-{H}-{A} tanh, float32 (median of {args.rounds} "
          f"interleaved rounds)")
    print_table(update_rows, ["variant", "us", "best us", "x default sketch", "x (best)", "x real update (est.)",
                              "target", "plausible"])
    print("\neach new function alone")
    print_table(piece_rows, ["variant", "us", "best us"])
    record(update_rows + piece_rows)
