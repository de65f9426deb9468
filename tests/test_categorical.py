"""C51: the projection against the paper's per-sample, per-atom loop (Algorithm 1), the Double target, and
the cross-entropy's gradient against float64 central differences."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradients import check_grad
from numpy_ddqn.rl.categorical import (atom_softmax, categorical_cross_entropy, categorical_double_q_targets,
                                       categorical_projection, categorical_q_values, categorical_support)

seeds = st.integers(0, 2**32 - 1)


def naive_projection(probs, reward, terminated, discount, v_min, v_max):
    """Bellemare et al. (2017), Algorithm 1, one sample and one atom at a time (with the l == u case)."""
    B, N = probs.shape
    dz = (v_max - v_min) / (N - 1)
    m = np.zeros((B, N))
    for b in range(B):
        for j in range(N):
            z_j = v_min + j * dz
            tz = min(max(reward[b] + (0.0 if terminated[b] else discount[b]) * z_j, v_min), v_max)
            pos = (tz - v_min) / dz
            low, up = math.floor(pos), math.ceil(pos)
            if low == up:                                   # on a support point: it keeps the whole mass
                m[b, low] += probs[b, j]
            else:
                m[b, low] += probs[b, j] * (up - pos)
                m[b, up] += probs[b, j] * (pos - low)
    return m


def draw(B, N, seed, v_min=-3.0, v_max=5.0):
    rng = np.random.default_rng(seed)
    probs = atom_softmax(2.0 * rng.normal(size=(B, N)))
    reward = rng.uniform(-12.0, 12.0, size=B)               # many shifted atoms fall outside the support
    terminated = (rng.random(B) < 0.3).astype(float)
    discount = 0.99 ** rng.integers(1, 4, size=B)           # gamma^m, m differing per sample (n-step)
    return probs, reward, terminated, discount, categorical_support(v_min, v_max, N, np.float64)


@given(B=st.integers(1, 8), N=st.integers(2, 21), seed=seeds)
def test_projection_equals_algorithm_1_and_sums_to_one(B, N, seed):
    probs, reward, terminated, discount, z = draw(B, N, seed)
    mine = categorical_projection(probs, reward, terminated, discount, z)
    np.testing.assert_allclose(mine, naive_projection(probs, reward, terminated, discount, -3.0, 5.0),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mine.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(mine >= 0)


def test_atoms_on_support_points_and_both_ends():
    """z = [-2, -1, 0, 1, 2] (dz = 1), gamma = 1, exact in binary floating point."""
    z = categorical_support(-2.0, 2.0, 5, np.float64)
    p = np.array([[0.1, 0.2, 0.3, 0.25, 0.15]] * 4)
    reward = np.array([1.0, -1.0, 0.5, 0.0])
    out = categorical_projection(p, reward, np.zeros(4), 1.0, z)
    # r = +1: every atom lands on the next support point; the top one (3) is clipped onto v_max = 2
    np.testing.assert_allclose(out[0], [0.0, 0.1, 0.2, 0.3, 0.4])
    # r = -1: shifted down; the bottom one (-3) is clipped onto v_min = -2
    np.testing.assert_allclose(out[1], [0.3, 0.3, 0.25, 0.15, 0.0])
    # r = 0.5: every atom halfway between two points splits in two; 2.5 is clipped onto 2
    np.testing.assert_allclose(out[2], [0.05, 0.15, 0.25, 0.275, 0.275])
    np.testing.assert_allclose(out[3], p[3])                            # r = 0, gamma = 1: unchanged
    for row, expected in zip(out, naive_projection(p, reward, np.zeros(4), np.ones(4), -2.0, 2.0)):
        np.testing.assert_allclose(row, expected)


def test_terminal_transition_puts_all_mass_at_the_reward():
    z = categorical_support(-2.0, 2.0, 5, np.float64)
    p = atom_softmax(np.random.default_rng(0).normal(size=(3, 5)))
    out = categorical_projection(p, np.array([1.0, 0.25, 9.0]), np.ones(3), 0.99, z)
    np.testing.assert_allclose(out, [[0, 0, 0, 1, 0], [0, 0, 0.75, 0.25, 0], [0, 0, 0, 0, 1]], atol=1e-15)


def test_per_sample_discount_is_used_per_sample():
    z = categorical_support(-4.0, 4.0, 9, np.float64)
    p = np.zeros((2, 9))
    p[:, 8] = 1.0                                                       # all mass at z = 4
    out = categorical_projection(p, np.zeros(2), np.zeros(2), np.array([0.5, 0.25]), z)
    np.testing.assert_allclose(out[0], np.eye(9)[6])                    # 0.5 * 4 = 2
    np.testing.assert_allclose(out[1], np.eye(9)[5])                    # 0.25 * 4 = 1


@given(B=st.integers(1, 6), A=st.integers(1, 4), N=st.integers(2, 11), seed=seeds)
def test_double_target_selects_by_online_mean_and_projects_the_target_distribution(B, A, N, seed):
    probs, reward, terminated, discount, z = draw(B, N, seed)
    rng = np.random.default_rng(seed + 1)
    online, target = rng.normal(size=(B, A, N)), rng.normal(size=(B, A, N))
    mine = categorical_double_q_targets(reward, terminated, discount, online, target, z)
    for b in range(B):
        q = [sum(atom_softmax(online[b, a])[i] * z[i] for i in range(N)) for a in range(A)]
        a_star = max(range(A), key=lambda a: q[a])
        expected = naive_projection(atom_softmax(target[b, a_star])[None], reward[b:b + 1], terminated[b:b + 1],
                                    discount[b:b + 1], -3.0, 5.0)[0]
        np.testing.assert_allclose(mine[b], expected, rtol=1e-9, atol=1e-12)


def test_the_target_ignores_a_masked_action_with_the_largest_mean():
    z = categorical_support(-2.0, 2.0, 5, np.float64)
    logits = np.full((1, 3, 5), -50.0)
    logits[0, 0, 4] = 50.0          # action 0: all mass at z = 2, the largest mean, but illegal
    logits[0, 1, 1] = 50.0          # action 1: all mass at z = -1
    logits[0, 2, 0] = 50.0          # action 2: all mass at z = -2
    args = (np.zeros(1), np.zeros(1), 1.0, logits, logits, z)
    np.testing.assert_allclose(categorical_double_q_targets(*args), [[0, 0, 0, 0, 1]], atol=1e-12)
    masked = categorical_double_q_targets(*args, mask_next=np.array([[False, True, True]]))
    np.testing.assert_allclose(masked, [[0, 1, 0, 0, 0]], atol=1e-12)


@given(B=st.integers(1, 6), A=st.integers(1, 4), N=st.integers(2, 9), seed=seeds, weighted=st.booleans())
def test_cross_entropy_gradient_matches_finite_differences(B, A, N, seed, weighted):
    rng = np.random.default_rng(seed)
    logits, actions = 2.0 * rng.normal(size=(B, A, N)), rng.integers(0, A, size=B)
    target = atom_softmax(rng.normal(size=(B, N)))
    weights = rng.uniform(0.1, 1.0, size=B) if weighted else None
    loss, dlogits, per_sample = categorical_cross_entropy(logits, actions, target, weights)
    check_grad(lambda: categorical_cross_entropy(logits, actions, target, weights)[0], logits, dlogits, "dlogits")
    for b in range(B):                                                  # forward: -sum m log p, one sample
        p = np.exp(logits[b, actions[b]]) / np.exp(logits[b, actions[b]]).sum()
        assert per_sample[b] == pytest.approx(-sum(target[b] * np.log(p)), rel=1e-10)
        others = [a for a in range(A) if a != actions[b]]
        assert np.all(dlogits[b, others] == 0), "only the taken action's row gets a gradient"
    w = np.ones(B) if weights is None else weights
    assert loss == pytest.approx(np.mean(w * per_sample), rel=1e-12)


def test_softmax_and_loss_are_stable_for_logits_of_1e4():
    z = categorical_support(-10.0, 10.0, 51)
    logits = np.zeros((2, 2, 51), np.float32)
    logits[0, :, 0], logits[1, :, 50] = 1e4, -1e4
    logits[1, :, 3] = 1e4
    assert np.all(np.isfinite(categorical_q_values(logits, z)))
    target = np.full((2, 51), 1 / 51, np.float32)
    loss, dlogits, per_sample = categorical_cross_entropy(logits, np.array([0, 1]), target)
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits)) and np.all(np.isfinite(per_sample))
    assert dlogits.dtype == np.float32
    np.testing.assert_allclose(atom_softmax(logits[0, 0]), np.eye(51)[0], atol=1e-30)


def test_float32_stays_float32_and_bad_shapes_are_one_clear_error():
    z = categorical_support(-10.0, 10.0, 51)
    logits = np.random.default_rng(0).normal(size=(64, 2, 51)).astype(np.float32)
    r, t = np.ones(64, np.float32), np.zeros(64, np.float32)
    assert categorical_double_q_targets(r, t, np.float32(0.99), logits, logits, z).dtype == np.float32
    with pytest.raises(ValueError, match=r"reward must be an array of shape \(64,\)"):
        categorical_double_q_targets(r[:, None], t, 0.99, logits, logits, z)
    with pytest.raises(ValueError, match="support z"):
        categorical_q_values(logits, z[:50])
    with pytest.raises(ValueError, match="n_atoms >= 2"):
        categorical_support(1.0, 1.0, 51)


@given(B=st.integers(1, 6), N=st.integers(2, 9), seed=seeds)
def test_shifts_by_whole_atoms_land_exactly_on_support_points(B, N, seed):
    """dz = 1 and integer rewards with gamma = 1: every shifted atom is a support point or beyond an end."""
    rng = np.random.default_rng(seed)
    z = categorical_support(0.0, N - 1.0, N, np.float64)
    probs = atom_softmax(rng.normal(size=(B, N)))
    reward = rng.integers(-N - 1, N + 2, size=B).astype(float)
    mine = categorical_projection(probs, reward, np.zeros(B), 1.0, z)
    np.testing.assert_allclose(mine, naive_projection(probs, reward, np.zeros(B), np.ones(B), 0.0, N - 1.0),
                               rtol=1e-12, atol=1e-15)
    for b in range(B):                                # a shift by k atoms, the overflow piled on the end atom
        k = int(reward[b])
        expected = np.zeros(N)
        for j in range(N):
            expected[min(max(j + k, 0), N - 1)] += probs[b, j]
        np.testing.assert_allclose(mine[b], expected, rtol=1e-12, atol=1e-15)


def test_float32_agrees_with_float64():
    probs, reward, terminated, discount, z = draw(64, 51, 5)
    f32 = lambda a: np.asarray(a, np.float32)
    m64 = categorical_projection(probs, reward, terminated, discount, z)
    m32 = categorical_projection(f32(probs), f32(reward), f32(terminated), f32(discount), f32(z))
    assert m32.dtype == np.float32
    np.testing.assert_allclose(m32, m64, atol=1e-5)


@given(B=st.integers(1, 6), A=st.integers(1, 4), N=st.integers(2, 9), seed=seeds)
def test_double_target_takes_the_online_mean_q_in_place_of_the_online_logits(B, A, N, seed):
    """The agent passes Q_online(s') (B, A), computed with Q_online(s) over s and s' stacked: the same target."""
    _, reward, terminated, discount, z = draw(B, N, seed)
    rng = np.random.default_rng(seed + 2)
    online, target = rng.normal(size=(B, A, N)), rng.normal(size=(B, A, N))
    mask = rng.random((B, A)) < 0.7
    mask[:, 0] = True
    for m in (None, mask):
        np.testing.assert_array_equal(
            categorical_double_q_targets(reward, terminated, discount, categorical_q_values(online, z), target, z, m),
            categorical_double_q_targets(reward, terminated, discount, online, target, z, m))
    with pytest.raises(ValueError, match="q_next_online"):
        categorical_double_q_targets(reward, terminated, discount, np.zeros((B, A + 1)), target, z)
