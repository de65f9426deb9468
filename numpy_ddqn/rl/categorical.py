"""C51, the categorical distributional target and loss (Bellemare, Dabney & Munos 2017), as pure functions.

    support   z_i = v_min + i dz,  dz = (v_max - v_min) / (N - 1),  i = 0..N-1
    head      p_i(s, a) = softmax_i(logits(s, a, .)),  Q(s, a) = sum_i p_i(s, a) z_i
    target    the distribution of r + gamma^m (1 - terminated) z, projected back onto the support (Phi, eq. 7)
    loss      -sum_i (Phi T p)_i log p_i(s, a)   (the cross-entropy: the paper's KL plus the target's entropy,
              which has no gradient)

Layout: logits are (B, A, N), one row of N atoms per action. Rewards, ``terminated`` and the discount
``gamma^m`` (a scalar, or a (B,) array for n-step transitions cut short by the episode's end) are (B,).
"""
from __future__ import annotations

import numpy as np

from ..nn.layers import arange
from .checks import check_actions, check_rank, check_shape, check_transitions, check_weights
from .masks import masked_argmax
from ..nn.heads import categorical_mean


def categorical_support(v_min, v_max, n_atoms, dtype=np.float32):   # -> z: (N,)
    """z_i = v_min + i (v_max - v_min) / (N - 1), i = 0..N-1."""
    if int(n_atoms) < 2 or not v_min < v_max:
        raise ValueError(f"a support needs n_atoms >= 2 and v_min < v_max, got {n_atoms}, [{v_min}, {v_max}]")
    dz = (v_max - v_min) / (n_atoms - 1)
    return (v_min + dz * np.arange(n_atoms)).astype(dtype)


def atom_softmax(logits):                            # logits: (..., N) -> p: (..., N)
    """p_i = exp(l_i - max l) / sum_j exp(l_j - max l): stable for logits of any size (every exponent <= 0)."""
    e = logits - logits.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= np.add.reduce(e, axis=-1, keepdims=True)
    return e


def categorical_q_values(logits, z):                 # logits: (B, A, N), z: (N,) -> Q: (B, A)
    """Q(s, a) = sum_i p_i(s, a) z_i: the distribution's mean, which acting and Double selection use."""
    check_rank("logits", logits, 3, "(B, A, N)")
    check_shape("support z", z, logits.shape[2:])
    return categorical_mean(logits, z)


def categorical_projection(probs, reward, terminated, discount, z):   # probs: (B, N) -> target: (B, N)
    """(Phi T p)_i = sum_j clip(1 - |clip(r + gamma^m (1 - terminated) z_j, v_min, v_max) - z_i| / dz, 0, 1) p_j.

    Each shifted atom Tz_j splits its probability between the two support points around it, in
    proportion to its nearness (an atom on a support point gives that point all of it); atoms beyond the
    ends are clipped onto them. Vectorised in one pass: the (B, N) lower and upper indices and their shares
    go through one ``np.bincount`` over the flattened (B * N) target, with no loop over samples or atoms.
    """
    check_rank("probs", probs, 2, "(B, N)")
    B, N = probs.shape
    check_shape("support z", z, (N,))
    check_transitions(B, reward, terminated, discount)
    v_min, v_max = z[0], z[-1]
    dz = (v_max - v_min) / (N - 1)
    bootstrap = discount * (1.0 - terminated)                            # (B,): 0 at terminal s'
    # the position of T z_j on the support, (r + g z_j - v_min) / dz with z_j = v_min + j dz, is
    # (r + (g - 1) v_min) / dz + g j: a (B,) start plus a (B,) step times the atom's index j
    start = (reward + (bootstrap - 1.0) * v_min) / dz                     # (B,)
    b = np.multiply.outer(bootstrap, np.arange(N, dtype=probs.dtype))    # (B, N)
    b += start[:, np.newaxis]
    np.clip(b, 0, N - 1, out=b)          # clipped to [0, N - 1]: the same as clipping T z_j to [v_min, v_max] first
    lower = np.floor(b)                                                  # (B, N)
    b -= lower                                                           # (B, N): the upper share, in [0, 1)
    # flat bins of the (B * N) target: the lower neighbour, and the upper one next to it (at b = N - 1 that is
    # the next row's first bin, or one past the end, and its share is exactly 0: it adds nothing there)
    index = np.empty((2, B, N), np.intp)
    np.add(lower, (arange(B) * N)[:, np.newaxis], out=index[0], casting="unsafe")   # whole numbers: exact
    np.add(index[0], 1, out=index[1])
    share = np.empty((2, B, N))                                          # float64, as bincount sums
    np.multiply(probs, b, out=share[1])                                  # p_j * upper share
    np.subtract(probs, share[1], out=share[0])                           # p_j * (1 - upper share)
    target = np.bincount(index.reshape(-1), share.reshape(-1), minlength=B * N + 1)[:B * N]
    return target.reshape(B, N).astype(probs.dtype, copy=False)


def categorical_double_q_targets(reward, terminated, discount, logits_next_online, logits_next_target, z,
                                 mask_next=None):    # logits: (B, A, N) -> target distribution: (B, N)
    """Phi T p_target(s', a*), a* = argmax_{a legal} sum_i p_online,i(s', a) z_i   (Hessel et al. 2018, Rainbow).

    The online network selects the next action by its mean Q, the target network's distribution is
    projected. Pass the target logits twice for the plain C51 target (a* by the target network's mean).
    ``logits_next_online`` may also be that mean Q_online(s') itself, (B, A), when the caller has it already
    (the agent computes it with Q_online(s), over s and s' stacked).
    """
    check_rank("logits_next_target", logits_next_target, 3, "(B, A, N)")
    if getattr(logits_next_online, "ndim", None) == 2:                   # Q_online(s'): (B, A)
        check_shape("q_next_online", logits_next_online, logits_next_target.shape[:2])
        q_next_online = logits_next_online
    else:
        check_shape("logits_next_online", logits_next_online, logits_next_target.shape)
        q_next_online = categorical_q_values(logits_next_online, z)      # (B, A)
    a_star = masked_argmax(q_next_online, mask_next)                                        # (B,)
    probs_next = atom_softmax(logits_next_target[arange(a_star.shape[0]), a_star])          # (B, N)
    return categorical_projection(probs_next, reward, terminated, discount, z)


def categorical_cross_entropy(logits, actions, target_probs, weights=None):   # (B, A, N), (B,), (B, N)
    """L = mean_b w_b l_b, l_b = -sum_i m_bi log softmax_i(logits[b, a_b]); dL/dlogits[b, a_b] = w_b (p_b sum_i m_bi - m_b) / B.

    Only the taken action's row gets a gradient (the rest of ``dlogits`` is zero). ``weights`` are
    prioritized replay's importance weights. Returns ``(loss, dlogits (B, A, N), per_sample_loss (B,))``;
    the per-sample loss (the KL to the target plus the target's entropy) serves as the priority (Rainbow
    names the KL; Dopamine's Rainbow uses this cross-entropy).
    """
    check_rank("logits", logits, 3, "(B, A, N)")
    B, A, N = logits.shape
    check_actions(actions, B)
    check_shape("target_probs", target_probs, (B, N))
    check_weights(weights, B)
    rows = arange(B)
    shifted = logits[rows, actions]                                      # (B, N), a copy
    shifted -= shifted.max(axis=1, keepdims=True)                        # <= 0: no overflow at 1e4
    exp = np.exp(shifted)
    sum_exp = np.add.reduce(exp, axis=1, keepdims=True)                  # (B, 1), >= 1
    shifted -= np.log(sum_exp)                                           # (B, N) log-softmax
    per_sample = -np.einsum("bn,bn->b", target_probs, shifted)           # (B,)
    # d l_b / d logits = softmax * sum(m) - m (= p - m when the target sums to 1, as a projection does)
    scale = (1.0 / B) if weights is None else (weights / B)[:, np.newaxis]   # (B, 1)
    exp *= np.add.reduce(target_probs, axis=1, keepdims=True) / sum_exp  # (B, N): softmax * sum(m)
    exp -= target_probs
    exp *= scale
    loss = float(np.add.reduce(per_sample if weights is None else weights * per_sample)) / B
    dlogits = np.zeros(logits.shape, logits.dtype)                       # (B, A, N)
    dlogits[rows, actions] = exp
    return loss, dlogits, per_sample
