"""The sum tree: its invariants, ``find`` and its shape against naive references on small integers (whose
partial sums are exact) and on float priorities (the issue-13 specification): any capacity, batched updates
in which an index may repeat (the last write wins), every ancestor recomputed from its children, and
``find`` against ``np.searchsorted(np.cumsum(p), u, side="right")``."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.checkpoint import load_checkpoint, save_checkpoint
from numpy_ddqn.rl.sumtree import SumTree

FLOAT_CAPACITIES = [1, 2, 3, 5, 7, 100, 1000]
FANOUTS = [2, 3, 16]
priority = st.one_of(st.just(0.0), st.floats(1e-8, 1e8))
CAPACITIES = [1, 2, 3, 5, 7, 16, 17, 100, 1000]


def assert_every_node_is_the_sum_of_its_children(tree):
    """Recomputed here from the level below: equal bit for bit (no drift), padding leaves 0."""
    for d in range(tree.depth):
        recomputed = tree.levels[d + 1].reshape(-1, tree.fanout).sum(axis=1)
        np.testing.assert_array_equal(tree.levels[d], recomputed, err_msg=f"level {d}: stored vs recomputed")
    assert not tree.levels[-1][tree.capacity:].any()


def random_priorities(rng, capacity, zero_fraction=0.4):
    """Floats over six decades, some exactly 0, at least one > 0."""
    p = rng.random(capacity) * 10.0 ** rng.uniform(-3, 3, capacity)
    p[rng.random(capacity) < zero_fraction] = 0.0
    p[rng.integers(capacity)] = 1.0 + rng.random()
    return p


@given(capacity=st.sampled_from(FLOAT_CAPACITIES), fanout=st.sampled_from(FANOUTS), data=st.data())
def test_updates_with_repeated_indices_keep_every_node_the_sum_of_its_children(capacity, fanout, data):
    tree, naive = SumTree(capacity, fanout), np.zeros(capacity)
    for _ in range(data.draw(st.integers(1, 10), label="batches")):
        B = data.draw(st.integers(1, 16), label="B")
        idx = data.draw(st.lists(st.integers(0, capacity - 1), min_size=B, max_size=B), label="indices")
        p = data.draw(st.lists(priority, min_size=B, max_size=B), label="priorities")
        tree.update(np.array(idx), np.array(p))
        for i, v in zip(idx, p):                  # one write after the other: the last one wins
            naive[i] = v
        np.testing.assert_array_equal(tree.leaves, naive)
        assert_every_node_is_the_sum_of_its_children(tree)
    assert tree.total == pytest.approx(naive.sum(), rel=1e-12)


@pytest.mark.parametrize("capacity", FLOAT_CAPACITIES)
def test_a_long_run_of_updates_leaves_no_drift(capacity):
    """10,000 batched updates (as many as a long PER run touches one leaf): the root is still the sum."""
    rng = np.random.default_rng(capacity)
    tree = SumTree(capacity, 2)
    for _ in range(2000):
        idx = rng.integers(0, capacity, 5)
        tree.update(idx, rng.random(5) * 10.0 ** rng.uniform(-6, 6, 5))
    assert_every_node_is_the_sum_of_its_children(tree)
    assert tree.total == pytest.approx(tree.leaves.sum(), rel=1e-12)


@given(capacity=st.sampled_from(FLOAT_CAPACITIES), fanout=st.sampled_from(FANOUTS), seed=st.integers(0, 2**32 - 1))
def test_find_matches_a_cumulative_sum_search_on_float_priorities(capacity, fanout, seed):
    rng = np.random.default_rng(seed)
    p = random_priorities(rng, capacity)
    tree = SumTree(capacity, fanout)
    tree.update(rng.permutation(capacity), np.zeros(capacity))   # something to overwrite first
    tree.update(np.arange(capacity), p)
    cum = np.cumsum(p)
    u = rng.random(500) * tree.total
    # the tree adds in another order than cumsum: keep u away (1e-9 relative) from the boundaries,
    # where the two may disagree by an ulp; the boundaries themselves are the next test's
    gap = np.min(np.abs(u[:, None] - cum[None, :]), axis=1)
    u = u[gap > 1e-9 * tree.total]
    found = tree.find(u)
    np.testing.assert_array_equal(found, np.searchsorted(cum, u, side="right"), err_msg="mine vs searchsorted")
    assert np.all(p[found] > 0)


@given(capacity=st.sampled_from(FLOAT_CAPACITIES), fanout=st.sampled_from(FANOUTS), seed=st.integers(0, 2**32 - 1))
def test_find_at_exact_boundaries_goes_right_and_skips_zeros(capacity, fanout, seed):
    """u = sum(p[:i]) exactly belongs to the first leaf at or after i with a priority (side="right").

    Priorities m * 2^e (m < 256, |e| <= 10) span six decades and every partial sum is exact in float64
    in any order, so the boundaries are the same for the tree and for cumsum."""
    rng = np.random.default_rng(seed)
    p = rng.integers(1, 256, capacity) * 2.0 ** rng.integers(-10, 11, capacity)
    p[rng.random(capacity) < 0.4] = 0.0
    p[rng.integers(capacity)] = 1.0
    tree = SumTree(capacity, fanout)
    tree.update(np.arange(capacity), p)
    cum = np.cumsum(p)
    u = np.concatenate([[0.0], cum[cum < tree.total], np.nextafter(cum, 0)[cum > 0]])
    found = tree.find(u)
    np.testing.assert_array_equal(found, np.searchsorted(cum, u, side="right"), err_msg="mine vs searchsorted")
    assert np.all(p[found] > 0)


def boundary_values(tree, p):
    """Every cumulative-sum boundary, its neighbours one ulp either side, 0 and the top, in [0, total)."""
    cum = np.cumsum(p)
    u = np.concatenate([cum, np.nextafter(cum, 0), np.nextafter(cum, np.inf), [0.0, np.nextafter(tree.total, 0)]])
    return u[(u >= 0) & (u < tree.total)]


@given(capacity=st.sampled_from([17, 100, 1000]), seed=st.integers(0, 2**32 - 1))
def test_find_just_below_the_total_stays_on_stored_leaves(capacity, seed):
    """With fanout 16, NumPy sums a node's children pairwise but cumsum adds them in a row: u = total - ulp
    can pass the cumulative sum of the root's children; the descent must then stay on the last child with
    a priority, not walk into the zero padding."""
    rng = np.random.default_rng(seed)
    p = random_priorities(rng, capacity, zero_fraction=0.2)
    p[rng.integers(1, capacity):] = 0.0                      # trailing zeros too, as in a partly filled replay
    p[0] = max(p[0], 1.0)
    tree = SumTree(capacity, 16)
    tree.update(np.arange(capacity), p)
    found = tree.find(np.array([np.nextafter(tree.total, 0), tree.total * (1 - 2**-50)]))
    assert np.all(found < capacity) and np.all(p[found] > 0), (found, np.flatnonzero(p).max())


def test_find_never_returns_a_zero_priority_leaf_even_at_float_boundaries():
    # the smallest case: p = [0.3, 0, 0, 0.7], binary tree, u = 0.3: 1.0 - 0.7 = 0.30000000000000004 > u
    tree = SumTree(4, 2)
    tree.update(np.arange(4), np.array([0.3, 0.0, 0.0, 0.7]))
    found = [int(tree.find(np.array([0.3]))[0])]
    for seed in range(300):                                   # and many more, over capacities and fanouts
        rng = np.random.default_rng(seed)
        capacity, fanout = FLOAT_CAPACITIES[seed % len(FLOAT_CAPACITIES)], FANOUTS[seed % len(FANOUTS)]
        p = random_priorities(rng, capacity)
        tree = SumTree(capacity, fanout)
        tree.update(np.arange(capacity), p)
        found_here = tree.find(boundary_values(tree, p))
        assert np.all(found_here < capacity), f"seed {seed}: an index past the stored leaves"
        found += [int(i) for i in found_here if p[i] == 0]    # zero-priority leaves found
    assert found[0] == 3
    assert found[1:] == [], f"{len(found) - 1} boundary values found a leaf of priority 0"


@given(capacity=st.sampled_from(FLOAT_CAPACITIES), fanout=st.sampled_from(FANOUTS), seed=st.integers(0, 2**32 - 1))
def test_a_restored_tree_is_bit_exact(tmp_path_factory, capacity, fanout, seed):
    rng = np.random.default_rng(seed)
    a = SumTree(capacity, fanout)
    for _ in range(20):
        a.update(rng.integers(0, capacity, 7), random_priorities(rng, 7, 0.2))
    path = save_checkpoint(tmp_path_factory.mktemp("tree") / "tree.npz", {"tree": a.state_dict()})
    b = SumTree(capacity, fanout)
    b.update(np.arange(capacity), rng.random(capacity))      # stale values must all be replaced
    b.load_state_dict(load_checkpoint(path)["tree"])
    for la, lb in zip(a.levels, b.levels):
        np.testing.assert_array_equal(la, lb)
    u = rng.random(64) * a.total
    np.testing.assert_array_equal(a.find(u), b.find(u))


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
        assert_every_node_is_the_sum_of_its_children(tree)
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
