"""The sum tree and prioritized replay against naive references."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.rl.prioritized import PrioritizedReplayBuffer
from numpy_ddqn.rl.sumtree import SumTree

CAPACITIES = [1, 2, 3, 5, 7, 16, 17, 100, 1000]

def prioritized_sample(buf, batch_size, rng, beta):
    """``(batch, indices, weights)`` of one prioritized ``sample``."""
    batch = buf.sample(batch_size, rng, beta)
    return batch, batch.indices, batch.weights



def assert_consistent(tree):
    """Every internal node is exactly the sum of its children; padding leaves are 0."""
    for d in range(tree.depth):
        np.testing.assert_array_equal(tree.levels[d], tree.levels[d + 1].reshape(-1, tree.fanout).sum(axis=1))
    assert not tree.levels[-1][tree.capacity:].any()


@given(capacity=st.sampled_from(CAPACITIES), fanout=st.sampled_from([2, 3, 4, 16]), data=st.data())
def test_every_internal_node_is_the_sum_of_its_children_after_any_updates(capacity, fanout, data):
    tree, naive = SumTree(capacity, fanout), np.zeros(capacity)
    for _ in range(data.draw(st.integers(1, 8))):
        idx = np.array(data.draw(st.lists(st.integers(0, capacity - 1), min_size=1, max_size=12, unique=True)))
        p = np.array(data.draw(st.lists(st.floats(0, 1e6), min_size=len(idx), max_size=len(idx))))
        if data.draw(st.booleans()):
            tree.update(idx, p)                           # a batch at once
        else:
            for i, value in zip(idx, p):                  # one at a time, the scalar path
                tree.set(int(i), float(value))
        naive[idx] = p
        np.testing.assert_array_equal(tree.leaves, naive)
        assert_consistent(tree)
    assert tree.total == pytest.approx(naive.sum(), rel=1e-12)


@given(capacity=st.sampled_from(CAPACITIES), fanout=st.sampled_from([2, 4, 16]), seed=st.integers(0, 2**32 - 1))
def test_find_matches_a_cumulative_sum_search_and_never_finds_a_zero_priority(capacity, fanout, seed):
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 5, capacity).astype(float)     # small integers: every partial sum is exact
    p[rng.integers(capacity)] = 3.0                     # at least one priority
    tree = SumTree(capacity, fanout)
    tree.update(np.arange(capacity), p)
    u = np.concatenate([rng.random(200) * p.sum(), np.cumsum(p)[:-1], [np.nextafter(p.sum(), 0), 0.0]])
    u = u[u < p.sum()]
    found = tree.find(u)
    np.testing.assert_array_equal(found, np.searchsorted(np.cumsum(p), u, side="right"))
    assert np.all(p[found] > 0)


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


@pytest.mark.parametrize("capacity, fanout", [(1, 2), (5, 16), (1000, 2), (4096, 32), (100_000, 32),
                                              (1_000_000, 32), (10**6, 2)])
def test_the_tree_is_as_shallow_as_its_top_row_allows(capacity, fanout):
    """Level d holds top * fanout**d nodes, the leaves cover the capacity with less than one top node's
    worth of padding, and one level fewer would need a top row wider than max(TOP, fanout)."""
    from numpy_ddqn.rl.sumtree import TOP
    sizes = SumTree.level_sizes(capacity, fanout)
    top, depth = sizes[0], len(sizes) - 1
    assert depth >= 1 and sizes == [top * fanout ** d for d in range(depth + 1)]
    assert sizes[-1] >= capacity > (top - 1) * fanout ** depth
    assert top <= max(TOP, fanout)
    assert depth == 1 or -(-capacity // fanout ** (depth - 1)) > max(TOP, fanout)


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
