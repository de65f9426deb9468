"""QR-DQN and IQN: quantile targets and the quantile Huber loss (Dabney et al. 2018a, 2018b), as pure functions.

    midpoints  tau_hat_i = (2i - 1) / 2N,  i = 1..N            (QR-DQN; IQN samples its taus instead)
    target     T theta_j = r + gamma^m (1 - terminated) theta'_j(s', a*),  a* = argmax_a mean_j theta_j(s', a)
    loss       l = sum_i mean_j rho^kappa_{tau_i}(T theta_j - theta_i),  rho^kappa_tau(u) = |tau - 1{u < 0}| L_kappa(u) / kappa
               L_kappa(u) = u^2 / 2 if |u| <= kappa else kappa (|u| - kappa / 2)

Normalisation (as both papers and Dopamine): a sum over the N predicted quantiles and a mean over the N'
target samples, then a (weighted) mean over the batch. The Huber term is divided by kappa, as IQN's
eq. 3 writes it (QR-DQN's eq. 10 does not; with the usual kappa = 1 the two agree). kappa = 0 is the plain
quantile regression loss |tau - 1{u < 0}| |u| (the limit of L_kappa / kappa).

Layout: quantiles are (B, A, N), one row of N quantile values per action; targets are (B, N').
"""
from __future__ import annotations

import numpy as np

from ..nn.layers import arange, ones, scratch
from .checks import check_actions, check_rank, check_shape, check_transitions, check_weights
from .masks import masked_argmax


def quantile_midpoints(n, dtype=np.float32):         # -> tau_hat: (N,)
    """tau_hat_i = (2i - 1) / 2N for i = 1..N: the quantile levels that minimise the 1-Wasserstein error."""
    if int(n) < 1:
        raise ValueError(f"n_quantiles must be >= 1, got {n}")
    return ((2.0 * np.arange(1, n + 1) - 1.0) / (2.0 * n)).astype(dtype)


def quantile_double_q_targets(reward, terminated, discount, quantiles_next_online, quantiles_next_target,
                              mask_next=None):       # quantiles: (B, A, N') -> targets: (B, N')
    """T theta_j = r + gamma^m (1 - terminated) theta_target,j(s', a*), a* = argmax_{a legal} mean_j theta_online,j(s', a).

    Pass the target network's quantiles twice for QR-DQN's own target (a* by the target network's mean).
    ``quantiles_next_online`` may also be that mean Q_online(s') itself, (B, A), when the caller has it already
    (the agent computes it with Q_online(s), over s and s' stacked).
    """
    check_rank("quantiles_next_target", quantiles_next_target, 3, "(B, A, N')")
    if getattr(quantiles_next_online, "ndim", None) != 2:
        check_rank("quantiles_next_online", quantiles_next_online, 3, "(B, A, K) or (B, A)")
    if quantiles_next_online.shape[:2] != quantiles_next_target.shape[:2]:   # IQN's K may differ from N'
        raise ValueError(f"quantiles_next_online {quantiles_next_online.shape} and quantiles_next_target "
                         f"{quantiles_next_target.shape} must share (B, A)")
    B = quantiles_next_target.shape[0]
    check_transitions(B, reward, terminated, discount)
    q_next_online = quantiles_next_online if quantiles_next_online.ndim == 2 else quantiles_next_online.mean(axis=2)
    a_star = masked_argmax(q_next_online, mask_next)                          # (B,) by the mean, Q = E[Z]
    theta_next = quantiles_next_target[arange(B), a_star]                     # (B, N')
    bootstrap = (discount * (1.0 - terminated))[:, np.newaxis]                # (B, 1)
    return reward[:, np.newaxis] + bootstrap * theta_next


def quantile_huber_loss(quantiles, actions, targets, taus, kappa=1.0, weights=None):
    """L = mean_b w_b sum_i mean_j |tau_bi - 1{u_bij < 0}| L_kappa(u_bij) / kappa,  u_bij = T theta_bj - theta_b,a_b,i.

    Args:
        quantiles: (B, A, N) predicted quantile values theta, every action.
        actions: (B,) taken actions; only their rows get a gradient.
        targets: (B, N') target samples T theta (constants: no gradient flows into them).
        taus: (N,) levels shared by the batch (QR-DQN's midpoints) or (B, N) per sample (IQN's sampled taus).
        kappa: the Huber threshold, >= 0 (0: the plain quantile loss).
        weights: (B,) importance weights of prioritized replay, or None.
    Returns:
        ``(loss, dquantiles (B, A, N), per_sample_loss (B,))``; the per-sample loss serves as a priority.

    With c = clip(u, -kappa, kappa) (kappa = 0: sign(u)) and m = min(c, 0), per pair
    ``rho' = tau c + (1 - 2 tau) m`` and ``rho = tau c (u - c/2) + (1 - 2 tau) m (u - m/2)`` (no halves at kappa = 0):
    the loss and its gradient need only the sums over the targets j of c, m, c (u - c/2) and m (u - m/2), four
    (B, N, N') arrays in one work array summed by one matrix-vector product.
    """
    check_rank("quantiles", quantiles, 3, "(B, A, N)")
    B, A, N = quantiles.shape
    check_actions(actions, B)
    check_rank("targets", targets, 2, "(B, N')")
    check_shape("targets", targets, (B, targets.shape[1]))
    if getattr(taus, "shape", None) not in ((N,), (B, N)):
        raise ValueError(f"taus must have shape ({N},) or ({B}, {N}), got {np.shape(taus)}")
    check_weights(weights, B)
    if not kappa >= 0:
        raise ValueError(f"kappa must be >= 0, got {kappa}")
    n_target, dtype = targets.shape[1], quantiles.dtype
    rows = arange(B)
    theta = quantiles[rows, actions]                                  # (B, N)
    tau = taus.reshape(-1, N).astype(dtype, copy=False)               # (1 or B, N)
    # With c = L_kappa'(u) = clip(u, -kappa, kappa) (kappa = 0: |u|' = sign(u)) and m = min(c, 0), which is c where
    # u < 0 and 0 elsewhere (at a tie c = m = 0, so the tie's side does not matter):
    #   rho'(u) = |tau - 1{u < 0}| c           = tau c + (1 - 2 tau) m
    #   rho(u)  = |tau - 1{u < 0}| L_kappa(u)  = tau c (u - c / 2) + (1 - 2 tau) m (u - m / 2)
    # (L_kappa(u) = c (u - c / 2); kappa = 0: |u| = c u, no halves). So the sums over the targets j of c, m,
    # c (u - c / 2) and m (u - m / 2) give the gradient and the loss: four (B, N, N') arrays, in one work array
    # kept between calls, summed over j by one matrix-vector product.
    u = scratch("quantile u", (B, N, n_target), dtype)                # (B, N, N'): every (predicted, target) pair
    work = scratch("quantile c, m, rho", (4, B, N, n_target), dtype)  # c, m, c (u - c / 2), m (u - m / 2)
    u[...] = targets[:, np.newaxis, :]
    u.reshape(-1, n_target)[...] -= theta.reshape(-1, 1)              # u_ij = T theta_j - theta_i
    c, m, huber = work[0], work[1], work[2:]
    if kappa > 0:
        np.clip(u, -kappa, kappa, out=c)
        np.clip(u, -kappa, 0.0, out=m)
        scale, half = 1.0 / kappa, 0.5
    else:
        np.sign(u, out=c)
        np.clip(c, -1.0, 0.0, out=m)
        scale, half = 1.0, 0.0
    np.multiply(work[:2], -half, out=huber)
    huber += u
    huber *= work[:2]                                                 # c (u - c / 2), m (u - m / 2)
    sums = (work.reshape(-1, n_target) @ ones(n_target, dtype)).reshape(4, B, N)   # each summed over j
    below = 1.0 - 2.0 * tau                                           # (1 or B, N)
    rho = tau * sums[2] + below * sums[3]                             # (B, N): sum_j rho
    per_sample = np.add.reduce(rho, axis=1) * (scale / n_target)      # (B,)
    # u = T theta - theta, so d u / d theta = -1
    d_theta = tau * sums[0] + below * sums[1]                         # (B, N): sum_j rho'
    d_theta *= -scale / n_target
    if weights is not None:
        d_theta *= weights[:, np.newaxis]
    loss = float(np.mean(per_sample if weights is None else weights * per_sample))
    dquantiles = np.zeros(quantiles.shape, quantiles.dtype)           # (B, A, N)
    dquantiles[rows, actions] = d_theta * (1.0 / B)
    return loss, dquantiles, per_sample
