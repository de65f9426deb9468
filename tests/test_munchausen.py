"""Munchausen-DQN's target against a naive per-sample loop, at extreme values, in its tau -> 0 limit, with masks."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.rl.munchausen import munchausen_targets

seeds = st.integers(0, 2**32 - 1)


def naive_target(reward, terminated, discount, actions, q, q_next, alpha, tau, l0, mask=None, mask_next=None):
    """The paper's equation, one sample and one action at a time, with plain math.exp/log on shifted values."""
    B, A = q.shape
    y = np.zeros(B)
    for b in range(B):
        legal = [a for a in range(A) if mask is None or mask[b, a]]
        m = max(q[b, a] for a in legal)
        lse = math.log(sum(math.exp((q[b, a] - m) / tau) for a in legal))
        log_pi_a = (q[b, actions[b]] - m) / tau - lse
        bonus = alpha * min(max(tau * log_pi_a, l0), 0.0)
        legal_next = [a for a in range(A) if mask_next is None or mask_next[b, a]]
        m = max(q_next[b, a] for a in legal_next)
        lse = math.log(sum(math.exp((q_next[b, a] - m) / tau) for a in legal_next))
        soft = 0.0
        for a in legal_next:
            log_pi = (q_next[b, a] - m) / tau - lse
            soft += math.exp(log_pi) * (q_next[b, a] - tau * log_pi)
        y[b] = reward[b] + bonus + (0.0 if terminated[b] else discount[b]) * soft
    return y


def draw(B, A, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=B), (rng.random(B) < 0.3).astype(float), 0.99 ** rng.integers(1, 4, size=B),
            rng.integers(0, A, size=B), scale * rng.normal(size=(B, A)), scale * rng.normal(size=(B, A)))


@given(B=st.integers(1, 8), A=st.integers(1, 6), seed=seeds, alpha=st.sampled_from([0.0, 0.9, 1.0]),
       tau=st.sampled_from([0.03, 0.3, 1.0, 10.0]), l0=st.sampled_from([-1.0, -0.1]))
def test_target_equals_a_naive_per_sample_loop(B, A, seed, alpha, tau, l0):
    args = draw(B, A, seed)
    np.testing.assert_allclose(munchausen_targets(*args, alpha, tau, l0), naive_target(*args, alpha, tau, l0),
                               rtol=1e-10, atol=1e-10)


@given(B=st.integers(1, 8), A=st.integers(2, 6), seed=seeds)
def test_with_masks_equals_the_naive_loop_over_legal_actions(B, A, seed):
    args = draw(B, A, seed)
    rng = np.random.default_rng(seed + 1)
    mask, mask_next = rng.random((B, A)) < 0.6, rng.random((B, A)) < 0.6
    mask[np.arange(B), args[3]] = True                                 # the taken action was legal
    mask_next[np.arange(B), rng.integers(0, A, size=B)] = True         # at least one legal action at s'
    y = munchausen_targets(*args, 0.9, 0.03, -1.0, mask, mask_next)
    np.testing.assert_allclose(y, naive_target(*args, 0.9, 0.03, -1.0, mask, mask_next), rtol=1e-10, atol=1e-10)


def test_the_target_ignores_a_masked_action_with_the_largest_q():
    q_next = np.array([[100.0, 1.0, 0.0]])                             # action 0 is the best, and illegal
    args = (np.zeros(1), np.zeros(1), 1.0, np.array([1]), np.zeros((1, 3)), q_next)
    y_tiny_tau = munchausen_targets(*args, 0.0, 1e-6, -1.0, mask_next=np.array([[False, True, True]]))
    assert y_tiny_tau[0] == pytest.approx(1.0)                         # the max over legal actions
    assert munchausen_targets(*args, 0.0, 1e-6, -1.0)[0] == pytest.approx(100.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tau", [1e-6, 0.03, 1e3])
def test_extreme_values_give_no_nan_or_inf(dtype, tau):
    B, A = 6, 4
    q = np.array([[1e4, -1e4, 0, 1e4], [-1e4] * 4, [1e4, 1e4 - 1, -1e4, 3], [0] * 4, [5, 5, 5, 5],
                  [-1e4, 1e4, 1e4, -1e4]], dtype)
    args = (np.ones(B, dtype), np.zeros(B, dtype), dtype(0.99), np.array([1, 0, 2, 3, 0, 1]), q, q[::-1].copy())
    y = munchausen_targets(*args, 0.9, tau, -1.0)
    assert np.all(np.isfinite(y)), y
    assert y.dtype == dtype
    mask = np.ones((B, A), bool)
    mask[:, 0] = False
    assert np.all(np.isfinite(munchausen_targets(*args, 0.9, tau, -1.0, mask, mask)))


@given(B=st.integers(1, 8), A=st.integers(1, 6), seed=seeds)
def test_tau_to_zero_approaches_the_dqn_target(B, A, seed):
    """tau -> 0: pi -> greedy, the soft value -> max_a' q', tau log pi(a|s) -> q(s, a) - max q(s, .)."""
    reward, terminated, discount, actions, q, q_next = draw(B, A, seed)
    dqn = reward + discount * (1 - terminated) * q_next.max(axis=1)
    y0 = munchausen_targets(reward, terminated, discount, actions, q, q_next, alpha=0.0, tau=1e-8)
    np.testing.assert_allclose(y0, dqn, rtol=1e-6, atol=1e-6)
    y = munchausen_targets(reward, terminated, discount, actions, q, q_next, alpha=0.9, tau=1e-8, l0=-1.0)
    advantage = q[np.arange(B), actions] - q.max(axis=1)
    np.testing.assert_allclose(y, dqn + 0.9 * np.clip(advantage, -1.0, 0.0), rtol=1e-6, atol=1e-6)


def test_bonus_is_clipped_on_tau_log_pi_and_terminal_keeps_the_bonus():
    q = np.array([[0.0, -50.0]])                                        # action 1 is very unlikely
    args = (np.zeros(1), np.ones(1), 0.99, np.array([1]), q, q)
    # tau log pi(1|s) = -50 - tau log(1 + e^{-50/tau}) ~ -50: clipped to l0 = -1, times alpha = 0.9
    assert munchausen_targets(*args, 0.9, 0.03, -1.0)[0] == pytest.approx(-0.9)
    # the greedy action: tau log pi ~ 0, so no bonus; terminated: no bootstrap
    assert munchausen_targets(args[0], args[1], 0.99, np.array([0]), q, q, 0.9, 0.03, -1.0)[0] == pytest.approx(0.0)


def test_bad_input_is_one_clear_error():
    args = draw(4, 3, 0)
    with pytest.raises(ValueError, match="tau > 0"):
        munchausen_targets(*args, 0.9, 0.0, -1.0)
    with pytest.raises(ValueError, match=r"q_target must be an array of shape \(4, 3\)"):
        munchausen_targets(*args[:4], args[4][:, :2], args[5])
