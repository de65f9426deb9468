"""QR-DQN and IQN: the quantile Huber loss against a double loop over pairs, its gradient against float64
central differences, ties (u = 0), and the quantile targets against a per-sample loop."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradients import check_grad
from numpy_ddqn.rl.quantile import quantile_double_q_targets, quantile_huber_loss, quantile_midpoints

seeds = st.integers(0, 2**32 - 1)
shapes = dict(B=st.integers(1, 5), A=st.integers(1, 3), N=st.integers(1, 7), N_target=st.integers(1, 7),
              seed=seeds, kappa=st.sampled_from([0.0, 0.5, 1.0, 2.0]), per_sample_taus=st.booleans(),
              weighted=st.booleans())


def naive_loss(quantiles, actions, targets, taus, kappa, weights):
    """Per sample: sum over predicted i, mean over target j of |tau_i - 1{u < 0}| L_kappa(u) / kappa."""
    B, _, N = quantiles.shape
    per_sample = np.zeros(B)
    for b in range(B):
        tau_b = taus[b] if taus.ndim == 2 else taus
        for i in range(N):
            for j in range(targets.shape[1]):
                u = targets[b, j] - quantiles[b, actions[b], i]
                weight = abs(tau_b[i] - (1.0 if u < 0 else 0.0))
                if kappa == 0:
                    rho = weight * abs(u)
                elif abs(u) <= kappa:
                    rho = weight * 0.5 * u * u / kappa
                else:
                    rho = weight * kappa * (abs(u) - 0.5 * kappa) / kappa
                per_sample[b] += rho / targets.shape[1]
    w = np.ones(B) if weights is None else weights
    return float(np.mean(w * per_sample)), per_sample


def draw(B, A, N, N_target, seed, per_sample_taus, weighted):
    rng = np.random.default_rng(seed)
    quantiles, targets = 2.0 * rng.normal(size=(B, A, N)), 2.0 * rng.normal(size=(B, N_target))
    taus = rng.random((B, N)) if per_sample_taus else quantile_midpoints(N, np.float64)
    weights = rng.uniform(0.1, 1.0, size=B) if weighted else None
    return quantiles, rng.integers(0, A, size=B), targets, taus, weights


@given(**shapes)
def test_loss_equals_a_double_loop_over_pairs(B, A, N, N_target, seed, kappa, per_sample_taus, weighted):
    quantiles, actions, targets, taus, weights = draw(B, A, N, N_target, seed, per_sample_taus, weighted)
    loss, dq, per_sample = quantile_huber_loss(quantiles, actions, targets, taus, kappa, weights)
    naive, naive_per_sample = naive_loss(quantiles, actions, targets, taus, kappa, weights)
    assert loss == pytest.approx(naive, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(per_sample, naive_per_sample, rtol=1e-10, atol=1e-12)
    for b in range(B):
        assert np.all(dq[b, np.arange(A) != actions[b]] == 0), "only the taken action's row gets a gradient"


@given(**shapes)
def test_loss_gradient_matches_finite_differences(B, A, N, N_target, seed, kappa, per_sample_taus, weighted):
    quantiles, actions, targets, taus, weights = draw(B, A, N, N_target, seed, per_sample_taus, weighted)
    u = targets[:, None, :] - quantiles[np.arange(B), actions][:, :, None]
    assume(np.min(np.abs(u)) > 1e-4 and (kappa == 0 or np.min(np.abs(np.abs(u) - kappa)) > 1e-4))   # no kinks
    _, dq, _ = quantile_huber_loss(quantiles, actions, targets, taus, kappa, weights)
    check_grad(lambda: quantile_huber_loss(quantiles, actions, targets, taus, kappa, weights)[0], quantiles, dq,
               "dquantiles")


def test_ties_u_equal_zero_give_zero_loss_and_zero_gradient():
    """u = 0 exactly: L_kappa(0) = 0 and L_kappa'(0) = 0, whichever side the indicator 1{u < 0} takes."""
    quantiles = np.array([[[0.5, 1.0, 2.0]]])                          # (1, 1, 3)
    targets = np.array([[0.5, 1.0, 2.0]])                              # every diagonal pair is a tie
    taus = quantile_midpoints(3, np.float64)
    loss, dq, _ = quantile_huber_loss(quantiles, np.array([0]), targets, taus, 1.0)
    naive, _ = naive_loss(quantiles, np.array([0]), targets, taus, 1.0, None)
    assert loss == pytest.approx(naive, rel=1e-12)
    check_grad(lambda: quantile_huber_loss(quantiles, np.array([0]), targets, taus, 1.0)[0], quantiles, dq,
               "dquantiles at ties")
    # all targets equal to the only prediction: nothing to learn
    loss, dq, per_sample = quantile_huber_loss(np.ones((2, 1, 1)), np.zeros(2, int), np.ones((2, 4)),
                                               np.array([0.5]), 1.0)
    assert loss == 0.0 and np.all(dq == 0) and np.all(per_sample == 0)


def test_the_asymmetry_pulls_each_quantile_to_its_level():
    """One prediction at 0 against targets {-1, +1} at tau = 0.9: the slope pushes it up (9 to 1)."""
    _, dq, _ = quantile_huber_loss(np.zeros((1, 1, 1)), np.array([0]), np.array([[-1.0, 1.0]]),
                                   np.array([0.9]), 1.0)
    # dL/dtheta = -(1/2) [0.9 * clip(1) + (1 - 0.9) * clip(-1)] = -0.4: gradient descent moves theta up
    assert dq[0, 0, 0] == pytest.approx(-0.4)


def test_midpoints():
    np.testing.assert_allclose(quantile_midpoints(4, np.float64), [0.125, 0.375, 0.625, 0.875])
    np.testing.assert_allclose(quantile_midpoints(1, np.float64), [0.5])


@given(B=st.integers(1, 6), A=st.integers(1, 4), N=st.integers(1, 6), K=st.integers(1, 6), seed=seeds)
def test_targets_equal_a_per_sample_loop(B, A, N, K, seed):
    rng = np.random.default_rng(seed)
    reward, terminated = rng.normal(size=B), (rng.random(B) < 0.3).astype(float)
    discount = 0.9 ** rng.integers(1, 4, size=B)
    online, target = rng.normal(size=(B, A, K)), rng.normal(size=(B, A, N))   # IQN: K online taus, N' target taus
    mine = quantile_double_q_targets(reward, terminated, discount, online, target)
    for b in range(B):
        a_star = max(range(A), key=lambda a: np.mean(online[b, a]))
        expected = [reward[b] + (0 if terminated[b] else discount[b]) * target[b, a_star, j] for j in range(N)]
        np.testing.assert_allclose(mine[b], expected, rtol=1e-12)
    # without Double: select and evaluate with the target network
    plain = quantile_double_q_targets(reward, terminated, discount, target, target)
    a_t = target.mean(axis=2).argmax(axis=1)
    np.testing.assert_allclose(plain, reward[:, None] + (discount * (1 - terminated))[:, None] *
                               target[np.arange(B), a_t])


def test_the_target_ignores_a_masked_action_with_the_largest_mean():
    theta = np.array([[[5.0, 7.0], [1.0, 2.0], [-1.0, 0.0]]])         # action 0 has the largest mean
    r, t = np.zeros(1), np.zeros(1)
    np.testing.assert_allclose(quantile_double_q_targets(r, t, 1.0, theta, theta), [[5.0, 7.0]])
    np.testing.assert_allclose(quantile_double_q_targets(r, t, 1.0, theta, theta,
                                                         mask_next=np.array([[False, True, True]])), [[1.0, 2.0]])


def test_float32_stays_float32_and_bad_shapes_are_one_clear_error():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(64, 2, 51)).astype(np.float32)
    targets = rng.normal(size=(64, 51)).astype(np.float32)
    _, dq, _ = quantile_huber_loss(q, np.zeros(64, int), targets, quantile_midpoints(51))
    assert dq.dtype == np.float32
    with pytest.raises(ValueError, match="taus must have shape"):
        quantile_huber_loss(q, np.zeros(64, int), targets, quantile_midpoints(50))
    with pytest.raises(ValueError, match=r"actions must be an array of shape \(64,\)"):
        quantile_huber_loss(q, np.zeros(63, int), targets, quantile_midpoints(51))
    with pytest.raises(ValueError, match="kappa"):
        quantile_huber_loss(q, np.zeros(64, int), targets, quantile_midpoints(51), kappa=-1.0)


def test_float32_agrees_with_float64():
    quantiles, actions, targets, taus, weights = draw(64, 2, 51, 51, 3, False, True)
    loss64, d64, per64 = quantile_huber_loss(quantiles, actions, targets, taus, 1.0, weights)
    f32 = lambda a: np.asarray(a, np.float32)
    loss32, d32, per32 = quantile_huber_loss(f32(quantiles), actions, f32(targets), f32(taus), 1.0, f32(weights))
    assert d32.dtype == np.float32
    assert loss32 == pytest.approx(loss64, rel=1e-5)
    np.testing.assert_allclose(d32, d64, rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(per32, per64, rtol=1e-5)


@pytest.mark.parametrize("kappa", [0.0, 1.0])
def test_ties_at_kappa_zero_and_on_the_clip_boundary_match_the_double_loop(kappa):
    """u = 0 (every kappa) and |u| = kappa exactly: the pair sums agree with the double loop, sign(0) = 0 included."""
    quantiles = np.array([[[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]], [[-1.0, 0.0, 3.0], [0.0, 0.0, 0.0]]])   # (2, 2, 3)
    targets = np.array([[0.0, 1.0, 1.0, 3.0], [-1.0, -1.0, 0.0, 4.0]])                            # ties, |u| = 1
    actions, taus = np.array([0, 0]), quantile_midpoints(3, np.float64)
    loss, dq, per_sample = quantile_huber_loss(quantiles, actions, targets, taus, kappa)
    naive, naive_per_sample = naive_loss(quantiles, actions, targets, taus, kappa, None)
    np.testing.assert_allclose(per_sample, naive_per_sample, rtol=1e-12, atol=1e-15)
    for b in range(2):                      # the gradient: minus mean_j of |tau - 1{u < 0}| L'(u), L'(0) = 0
        u = targets[b][None, :] - quantiles[b, 0][:, None]                                        # (N, N')
        slope = np.abs(taus[:, None] - (u < 0)) * (np.sign(u) if kappa == 0 else np.clip(u, -kappa, kappa))
        np.testing.assert_allclose(dq[b, 0], -slope.sum(axis=1) / (kappa or 1.0) / 4 / 2, rtol=1e-12, atol=1e-15)


def test_float32_loss_matches_the_float64_double_loop_and_keeps_its_dtype():
    """The training dtype: float32 in, float32 gradient out, close to the float64 reference, through calls of
    other shapes in between (the pair sums reuse work arrays between calls)."""
    rng = np.random.default_rng(3)
    quantiles, targets = rng.normal(size=(16, 3, 8)), 3.0 * rng.normal(size=(16, 8))
    targets[:4] = rng.normal(size=(4, 1))                  # terminal transitions: every target the reward
    actions, taus = rng.integers(0, 3, 16), quantile_midpoints(8, np.float64)
    naive, naive_per_sample = naive_loss(quantiles, actions, targets, taus, 1.0, None)
    for shape in ((16, 3, 8), (5, 2, 3), (16, 3, 8)):
        if shape != quantiles.shape:                       # another shape in between
            quantile_huber_loss(rng.normal(size=shape), np.zeros(shape[0], int), rng.normal(size=(shape[0], 4)),
                                quantile_midpoints(shape[2], np.float64), 1.0)
            continue
        loss, dq, per_sample = quantile_huber_loss(quantiles.astype(np.float32), actions, targets.astype(np.float32),
                                                   taus.astype(np.float32), 1.0)
        assert dq.dtype == np.float32
        assert loss == pytest.approx(naive, rel=1e-5)
        np.testing.assert_allclose(per_sample, naive_per_sample, rtol=1e-5, atol=1e-6)
        _, dq64, _ = quantile_huber_loss(quantiles, actions, targets, taus, 1.0)
        np.testing.assert_allclose(dq, dq64, rtol=1e-5, atol=1e-7)


def test_targets_take_the_online_mean_q_in_place_of_the_online_quantiles():
    """The agent passes Q_online(s') (B, A), computed with Q_online(s) over s and s' stacked: the same targets."""
    rng = np.random.default_rng(4)
    reward, terminated = rng.normal(size=5), (rng.random(5) < 0.4).astype(float)
    online, target = rng.normal(size=(5, 3, 4)), rng.normal(size=(5, 3, 6))
    np.testing.assert_array_equal(quantile_double_q_targets(reward, terminated, 0.9, online.mean(axis=2), target),
                                  quantile_double_q_targets(reward, terminated, 0.9, online, target))
    with pytest.raises(ValueError, match="must share"):
        quantile_double_q_targets(reward, terminated, 0.9, np.zeros((5, 2)), target)
