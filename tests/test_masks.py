"""Legal-action masks: greedy, max, random and soft-max over legal actions against naive loops; bit packing."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.errors import EnvError
from numpy_ddqn.rl.masks import (masked_argmax, masked_log_softmax, masked_logsumexp, masked_max, masked_softmax,
                                 pack_masks, random_legal_actions, unpack_masks)

seeds = st.integers(0, 2**32 - 1)


def draw(B, A, seed, ties=False):
    rng = np.random.default_rng(seed)
    q = rng.integers(-2, 3, size=(B, A)).astype(float) if ties else rng.normal(size=(B, A))
    mask = rng.random((B, A)) < 0.5
    mask[np.arange(B), rng.integers(0, A, size=B)] = True             # every state has a legal action
    return q, mask, rng


@given(B=st.integers(1, 8), A=st.integers(1, 7), seed=seeds, ties=st.booleans())
def test_masked_argmax_and_max_equal_a_naive_loop(B, A, seed, ties):
    q, mask, _ = draw(B, A, seed, ties)
    for b, (a, m) in enumerate(zip(masked_argmax(q, mask), masked_max(q, mask))):
        legal = [i for i in range(A) if mask[b, i]]
        best = max(q[b, i] for i in legal)
        assert m == best
        assert a == min(i for i in legal if q[b, i] == best), "ties go to the lowest legal index"
    np.testing.assert_array_equal(masked_argmax(q), q.argmax(axis=1))   # no mask: every action legal


def test_a_masked_action_with_the_largest_q_is_never_chosen():
    """Hand-built: the illegal action has the largest Q in both rows; greedy and max skip it, unmasked ones not."""
    q = np.array([[10.0, 1.0, 2.0], [0.0, 5.0, 3.0]])
    mask = np.array([[False, True, True], [True, False, True]])
    np.testing.assert_array_equal(masked_argmax(q, mask), [2, 2])
    np.testing.assert_array_equal(masked_max(q, mask), [2.0, 3.0])
    np.testing.assert_array_equal(masked_argmax(q), [0, 1])
    np.testing.assert_array_equal(masked_max(q), [10.0, 5.0])


@given(B=st.integers(1, 8), A=st.integers(1, 7), seed=seeds)
def test_random_legal_actions_are_legal_and_follow_the_rule(B, A, seed):
    _, mask, _ = draw(B, A, seed)
    u = np.random.default_rng(seed).random(B)                          # the one draw the function makes
    actions = random_legal_actions(mask, np.random.default_rng(seed))
    for b in range(B):
        legal = [i for i in range(A) if mask[b, i]]
        assert actions[b] == legal[int(u[b] * len(legal))]             # the k-th legal, k = floor(u * n_legal)
    assert np.all(mask[np.arange(B), actions])


def test_random_legal_actions_are_uniform_over_legal_ones():
    mask = np.array([[True, False, True, False, True, True]] * 40_000)
    actions = random_legal_actions(mask, np.random.default_rng(0))
    counts = np.bincount(actions, minlength=6)
    assert counts[1] == counts[3] == 0
    np.testing.assert_allclose(counts[[0, 2, 4, 5]] / 40_000, 0.25, atol=0.01)


def test_no_legal_action_is_one_env_error():
    mask = np.array([[True, False], [False, False]])
    for fn in (lambda: masked_argmax(np.zeros((2, 2)), mask), lambda: masked_max(np.zeros((2, 2)), mask),
               lambda: random_legal_actions(mask, np.random.default_rng(0)),
               lambda: masked_log_softmax(np.zeros((2, 2)), mask)):
        with pytest.raises(EnvError, match=r"no legal action in 1 state\(s\) \(batch rows \[1\]\)"):
            fn()
    with pytest.raises(ValueError, match="bool"):
        masked_argmax(np.zeros((2, 2)), mask.astype(int))
    with pytest.raises(ValueError, match="shape"):
        masked_argmax(np.zeros((2, 3)), mask)


@given(shape=st.lists(st.integers(1, 5), min_size=0, max_size=2), A=st.integers(1, 40), seed=seeds)
def test_pack_unpack_roundtrip(shape, A, seed):
    mask = np.random.default_rng(seed).random((*shape, A)) < 0.5
    packed = pack_masks(mask)
    assert packed.dtype == np.uint8 and packed.shape == (*shape, -(-A // 8))
    np.testing.assert_array_equal(unpack_masks(packed, A), mask)


def test_packing_is_bits_little_endian_along_actions():
    mask = np.zeros((1, 10), bool)
    mask[0, [0, 3, 9]] = True
    np.testing.assert_array_equal(pack_masks(mask), [[0b00001001, 0b00000010]])
    with pytest.raises(ValueError, match="uint8 of last axis 2"):
        unpack_masks(np.zeros((1, 3), np.uint8), 10)


@given(B=st.integers(1, 8), A=st.integers(1, 7), seed=seeds, temperature=st.sampled_from([1e-3, 0.03, 1.0, 50.0]))
def test_masked_softmax_equals_a_naive_loop(B, A, seed, temperature):
    q, mask, _ = draw(B, A, seed)
    log_pi, pi = masked_log_softmax(q, mask, temperature), masked_softmax(q, mask, temperature)
    for b in range(B):
        legal = [i for i in range(A) if mask[b, i]]
        m = max(q[b, i] for i in legal)
        total = sum(np.exp((q[b, i] - m) / temperature) for i in legal)
        for i in range(A):
            if mask[b, i]:
                assert log_pi[b, i] == pytest.approx((q[b, i] - m) / temperature - np.log(total), rel=1e-10, abs=1e-12)
            else:
                assert log_pi[b, i] == -np.inf and pi[b, i] == 0.0
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, rtol=1e-12)


def test_masked_softmax_is_stable_at_extremes():
    q = np.array([[1e4, -1e4, 1e4 - 1e-3]], np.float32)
    for t in (1e-6, 1.0):
        assert np.all(np.isfinite(masked_log_softmax(q, np.array([[True, True, True]]), t)[:, [0, 2]]))
        assert np.isclose(masked_softmax(q, None, t).sum(), 1.0)


@given(B=st.integers(1, 8), A=st.integers(1, 7), seed=seeds, temperature=st.sampled_from([1e-3, 0.03, 1.0, 50.0]))
def test_masked_logsumexp_is_the_soft_value_of_the_masked_softmax(B, A, seed, temperature):
    """T log sum_legal exp(q / T) = sum_legal pi (q - T log pi): the soft value Munchausen bootstraps from."""
    q, mask, _ = draw(B, A, seed)
    v = masked_logsumexp(q, mask, temperature)
    pi, log_pi = masked_softmax(q, mask, temperature), masked_log_softmax(q, mask, temperature)
    for b in range(B):
        legal = [i for i in range(A) if mask[b, i]]
        assert v[b] == pytest.approx(sum(pi[b, i] * (q[b, i] - temperature * log_pi[b, i]) for i in legal),
                                     rel=1e-9, abs=1e-9)
        assert masked_max(q, mask)[b] <= v[b] <= masked_max(q, mask)[b] + temperature * np.log(len(legal)) + 1e-12


def test_masked_logsumexp_tends_to_the_max_and_is_stable():
    q = np.array([[1e4, -1e4, 3.0], [-1e4, -1e4, -1e4]], np.float32)
    np.testing.assert_allclose(masked_logsumexp(q, None, 1e-6), [1e4, -1e4], rtol=1e-6)
    np.testing.assert_allclose(masked_logsumexp(q, np.array([[False, True, True], [True, True, True]]), 1e-6),
                               [3.0, -1e4], rtol=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        masked_logsumexp(q, None, 0.0)
