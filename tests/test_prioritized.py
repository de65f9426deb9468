"""Prioritized replay against naive references and the issue-13 specification: P(i) = p_i^alpha / sum_k p_k^alpha
(p_i = |td_i| + eps), stratified draws, importance weights (N P(i))^-beta / max over the batch, new and
overwritten transitions at the largest priority so far, and a checkpoint that continues bit-exactly."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.checkpoint import load_checkpoint, save_checkpoint
from numpy_ddqn.rl.prioritized import PrioritizedReplayBuffer
from numpy_ddqn.rl.sumtree import SumTree



def prioritized_sample(buf, batch_size, rng, beta):
    """``(batch, indices, weights)`` of one prioritized ``sample``."""
    batch = buf.sample(batch_size, rng, beta)
    return batch, batch.indices, batch.weights


def test_sampling_frequencies_follow_the_priorities():
    priorities = np.array([1, 2, 3, 4, 0, 5, 6, 7, 8, 9.0])
    buf = PrioritizedReplayBuffer(10, 2, alpha=1.0)
    for i in range(10):
        buf.add(np.zeros(2), 0, float(i), np.zeros(2), False)
    buf.update_priorities(np.arange(10), priorities - buf.eps)   # (|td| + eps)^1 = the priority
    buf.tree.set(4, 0.0)                                            # and one of exactly 0
    rng = np.random.default_rng(0)
    counts = np.zeros(10)
    for _ in range(16000):
        _, idx, _ = prioritized_sample(buf, 8, rng, beta=0.4)
        counts += np.bincount(idx, minlength=10)
    assert counts[4] == 0                                           # priority 0: never drawn
    expected = priorities / priorities.sum() * counts.sum()
    keep = expected > 0
    chi2 = (((counts - expected) ** 2)[keep] / expected[keep]).sum()
    assert chi2 < 26.12                                             # chi-square, 9 cells - 1 = 8 dof, p = 0.001


def test_importance_weights_match_a_naive_computation():
    buf = PrioritizedReplayBuffer(50, 3, alpha=0.7, eps=0.01)
    rng = np.random.default_rng(1)
    for i in range(37):
        buf.add(rng.normal(size=3), i % 4, float(i), rng.normal(size=3), False)
    td = rng.normal(size=37)
    buf.update_priorities(np.arange(37), td)
    np.testing.assert_allclose(buf.tree.leaves[:37], (np.abs(td) + 0.01) ** 0.7, rtol=1e-12)
    batch, idx, w = prioritized_sample(buf, 16, np.random.default_rng(2), beta=0.5)
    p = buf.tree.leaves[:37]
    P = p[idx] / p.sum()
    naive = (37 * P) ** -0.5
    np.testing.assert_allclose(w, naive / naive.max(), rtol=1e-6)
    np.testing.assert_array_equal(batch.reward, idx.astype(np.float32))          # the gathered rows are those rows


def test_new_transitions_get_the_largest_priority_so_far():
    buf = PrioritizedReplayBuffer(8, 1, alpha=1.0, eps=1e-6)
    buf.add(np.zeros(1), 0, 0.0, np.zeros(1), False)
    buf.update_priorities(np.array([0]), np.array([5.0]))
    buf.add(np.zeros(1), 0, 0.0, np.zeros(1), False)
    assert buf.tree.leaves[1] == pytest.approx(5.0 + 1e-6) and buf.max_priority == buf.tree.leaves[1]


def test_save_and_restore_is_bit_exact():
    rng = np.random.default_rng(3)
    a = PrioritizedReplayBuffer(1000, 4, store_discount=True)
    for i in range(700):
        a.add(rng.normal(size=4), i % 2, rng.normal(), rng.normal(size=4), i % 50 == 0, 0.99 ** (1 + i % 3))
        if i % 10 == 9 and i > 32:
            _, idx, _ = prioritized_sample(a, 32, rng, 0.4)
            a.update_priorities(idx, rng.normal(size=32))
    b = PrioritizedReplayBuffer(1000, 4, store_discount=True)
    b.load_state_dict(a.state_dict())
    for la, lb in zip(a.tree.levels, b.tree.levels):
        np.testing.assert_array_equal(la, lb)
    ra, rb = np.random.default_rng(9), np.random.default_rng(9)
    (ba, ia, wa), (bb, ib, wb) = prioritized_sample(a, 64, ra, 0.6), prioritized_sample(b, 64, rb, 0.6)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(wa, wb)
    for x, y in zip(ba, bb):
        np.testing.assert_array_equal(x, y)


def test_bad_arguments():
    with pytest.raises(ValueError, match="fanout"):
        SumTree(10, 1)
    with pytest.raises(IndexError):
        SumTree(10).update(np.array([10]), np.array([1.0]))
    with pytest.raises(ValueError, match="finite"):
        SumTree(10).update(np.array([1]), np.array([np.nan]))
    with pytest.raises(ValueError, match="alpha"):
        PrioritizedReplayBuffer(10, 2, alpha=-1)


def test_weights_are_the_naive_importance_weights():
    """(N P(i))^-beta / max_j (N P(j))^-beta, computed here the long way, for the sampled rows."""
    rng = np.random.default_rng(5)
    buf = PrioritizedReplayBuffer(500, 3, alpha=0.7)
    for i in range(300):
        buf.add(rng.normal(size=3), 0, 0.0, rng.normal(size=3), False)
    buf.update_priorities(np.arange(300), rng.normal(size=300) * 10.0 ** rng.uniform(-3, 2, 300))
    for beta in (0.0, 0.4, 1.0):
        _, idx, w = prioritized_sample(buf, 64, rng, beta)
        p = buf.tree.leaves[:300]
        naive = (300 * p[idx] / p.sum()) ** -beta
        np.testing.assert_allclose(w, naive / naive.max(), rtol=1e-5)


def filled(capacity, stored, alpha, eps=1e-6, seed=0, obs_dim=2):
    """A buffer holding ``stored`` transitions; transition i has reward i (to check the gathered rows)."""
    rng = np.random.default_rng(seed)
    buf = PrioritizedReplayBuffer(capacity, obs_dim, np.float64, alpha=alpha, eps=eps)
    for i in range(stored):
        buf.add(rng.normal(size=obs_dim), i % 3, float(i), rng.normal(size=obs_dim), i % 7 == 6)
    return buf


def test_sampling_frequencies_are_p_alpha_over_the_sum_and_unfilled_slots_are_never_drawn():
    """Chi-square goodness of fit over 128,000 draws (fixed seed) on a buffer with 12 of 20 slots filled."""
    alpha, eps = 0.5, 1e-3
    buf = filled(20, 12, alpha, eps)
    td = np.array([0.0, 0.5, 1, 2, 4, 8, 0.1, 3, 6, 0.25, 1.5, 10])     # |td| spans 0 .. 10
    buf.update_priorities(np.arange(12), td)
    rng = np.random.default_rng(0)
    counts = np.zeros(20)
    for _ in range(16000):
        _, idx, _ = prioritized_sample(buf, 8, rng, beta=0.4)
        counts += np.bincount(idx, minlength=20)
    assert counts[12:].sum() == 0                                       # slots 12..19 hold nothing
    p = (np.abs(td) + eps) ** alpha
    expected = p / p.sum() * counts.sum()
    chi2 = ((counts[:12] - expected) ** 2 / expected).sum()
    # 11 degrees of freedom, p = 0.001 (stratified draws vary less than independent ones: conservative)
    assert chi2 < 31.264, f"chi-square {chi2:.1f}; counts {counts[:12]} vs expected {np.round(expected)}"


@given(capacity=st.integers(1, 300), fill=st.floats(0, 1), B=st.integers(1, 64), alpha=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_draws_are_stratified_one_per_equal_segment(capacity, fill, B, alpha, seed):
    stored = max(B, 1 + int(fill * (capacity - 1)))
    buf = filled(max(capacity, stored), stored, alpha, seed=seed)
    rng = np.random.default_rng(seed)
    buf.update_priorities(np.arange(stored), rng.normal(size=stored) * 10.0 ** rng.uniform(-3, 2, stored))
    _, idx, _ = prioritized_sample(buf, B, rng, beta=0.5)
    p = buf.tree.leaves[:stored]
    right = np.cumsum(p)[idx]                              # leaf idx[k] covers [right - p, right)
    left = right - p[idx]
    seg = buf.tree.total / B
    k = np.arange(B)
    tol = 1e-9 * buf.tree.total
    assert np.all(np.diff(idx) >= 0), "increasing draws must give non-decreasing leaves"
    assert np.all((left <= (k + 1) * seg + tol) & (right >= k * seg - tol)), "a leaf outside its segment"


@given(capacity=st.integers(1, 200), fill=st.floats(0, 1), B=st.integers(1, 32), alpha=st.floats(0, 1),
       beta=st.floats(0, 1), eps=st.floats(1e-8, 1e-1), seed=st.integers(0, 2**32 - 1))
def test_importance_weights_match_a_naive_loop(capacity, fill, B, alpha, beta, eps, seed):
    stored = max(B, 1 + int(fill * (capacity - 1)))
    buf = filled(max(capacity, stored), stored, alpha, eps, seed)
    rng = np.random.default_rng(seed)
    td = rng.normal(size=stored) * 10.0 ** rng.uniform(-3, 2, stored)
    buf.update_priorities(np.arange(stored), td)
    batch, idx, w = prioritized_sample(buf, B, rng, beta)
    total = sum((abs(float(t)) + eps) ** alpha for t in td)
    naive = [(stored * ((abs(float(td[i])) + eps) ** alpha / total)) ** -beta for i in idx]
    largest = max(naive)                                   # the max over this batch (Dopamine, Baselines)
    np.testing.assert_allclose(w, [x / largest for x in naive], rtol=1e-9, err_msg="mine vs naive")
    assert w.max() == 1.0 and w.shape == (B,)
    np.testing.assert_array_equal(batch.reward, idx.astype(np.float64))        # the rows drawn


def test_new_and_overwritten_transitions_get_the_largest_priority_so_far():
    alpha, eps = 0.6, 1e-6
    buf = filled(5, 5, alpha, eps)
    buf.update_priorities(np.array([2]), np.array([30.0]))      # the largest priority ever seen
    buf.update_priorities(np.arange(5), np.full(5, 0.01))       # ... then every stored one lowered
    largest = (30.0 + eps) ** alpha
    assert buf.max_priority == largest
    buf.add(np.zeros(2), 0, 5.0, np.zeros(2), False)             # overwrites slot 0 (the ring wrapped)
    assert buf.next == 1 and buf.tree.leaves[0] == largest
    np.testing.assert_array_equal(buf.tree.leaves[1:], np.full(4, (0.01 + eps) ** alpha))


@given(alpha=st.floats(0, 1), seed=st.integers(0, 2**32 - 1), cut=st.integers(40, 400))
def test_a_checkpoint_mid_run_continues_bit_exactly(tmp_path_factory, alpha, seed, cut):
    """add / sample / update_priorities for ``cut`` steps, save_checkpoint, load into a fresh buffer, then the
    same 100 further steps on both: the same rows, indices, weights, priorities and tree, bit for bit."""
    def step(buf, rng, t):
        buf.add(rng.normal(size=3), int(rng.integers(2)), rng.normal(), rng.normal(size=3), t % 50 == 49)
        if buf.size >= 32 and t % 4 == 0:
            batch, idx, w = prioritized_sample(buf, 32, rng, beta=0.4 + 0.001 * t)
            buf.update_priorities(idx, rng.normal(size=32) * 3)
            return batch, idx, w
        return None

    a = PrioritizedReplayBuffer(150, 3, np.float32, alpha=alpha, eps=1e-5)     # wraps before the cut
    rng = np.random.default_rng(seed)
    for t in range(cut):
        step(a, rng, t)
    path = save_checkpoint(tmp_path_factory.mktemp("per") / "per.npz",
                           {"replay": a.state_dict(), "rng": rng.bit_generator.state})
    state = load_checkpoint(path)
    b = PrioritizedReplayBuffer(150, 3, np.float32, alpha=alpha, eps=1e-5)
    b.load_state_dict(state["replay"])
    rng_b = np.random.default_rng()
    rng_b.bit_generator.state = state["rng"]
    for t in range(cut, cut + 100):
        out_a, out_b = step(a, rng, t), step(b, rng_b, t)
        assert (out_a is None) == (out_b is None)
        if out_a is not None:
            for x, y in zip(out_a[0], out_b[0]):
                np.testing.assert_array_equal(x, y)
            np.testing.assert_array_equal(out_a[1], out_b[1])
            np.testing.assert_array_equal(out_a[2], out_b[2])
    for la, lb in zip(a.tree.levels, b.tree.levels):
        np.testing.assert_array_equal(la, lb)
    assert a.max_priority == b.max_priority
