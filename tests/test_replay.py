"""The ring buffer against a naive list-based reference, driven by hypothesis."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.rl.replay import ReplayBuffer


def transitions(n, obs_dim, seed):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=obs_dim), int(rng.integers(3)), float(rng.normal()),
             rng.normal(size=obs_dim), bool(rng.random() < 0.2)) for _ in range(n)]


def rows(buf):
    """Stored transitions as tuples in storage order (a naive view of the buffer)."""
    return {(tuple(buf.obs[i]), int(buf.action[i]), float(buf.reward[i]), tuple(buf.next_obs[i]),
             float(buf.terminated[i])) for i in range(buf.size)}


def as_rows(items, dtype=np.float32):
    c = lambda x: tuple(np.asarray(x, dtype))
    return {(c(o), a, float(dtype(r)), c(n), float(t)) for o, a, r, n, t in items}


@given(capacity=st.integers(1, 20), n=st.integers(0, 60), obs_dim=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_holds_exactly_the_last_capacity_transitions(capacity, n, obs_dim, seed):
    buf, items = ReplayBuffer(capacity, obs_dim), transitions(n, obs_dim, seed)
    for t in items:
        buf.add(*t)
    assert len(buf) == min(n, capacity) and buf.next == n % capacity
    assert rows(buf) == as_rows(items[-capacity:] if n else [])


@given(capacity=st.integers(4, 20), n=st.integers(4, 60), batch=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1))
def test_sampled_items_are_stored_ones(capacity, n, batch, seed):
    buf = ReplayBuffer(capacity, 2)
    for t in transitions(n, 2, seed):
        buf.add(*t)
    b = buf.sample(batch, np.random.default_rng(seed))
    assert b.obs.shape == (batch, 2) and b.action.shape == (batch,) and b.action.dtype == np.int64
    stored = rows(buf)
    for i in range(batch):
        assert (tuple(b.obs[i]), int(b.action[i]), float(b.reward[i]), tuple(b.next_obs[i]),
                float(b.terminated[i])) in stored


@given(capacity=st.integers(1, 20), n=st.integers(0, 60), seed=st.integers(0, 2**32 - 1))
def test_save_restore_round_trips_exactly(capacity, n, seed):
    buf = ReplayBuffer(capacity, 3)
    items = transitions(n + 5, 3, seed)
    for t in items[:n]:
        buf.add(*t)
    restored = ReplayBuffer(capacity, 3)
    restored.load_state_dict(buf.state_dict())
    for t in items[n:]:                                  # both continue identically
        buf.add(*t)
        restored.add(*t)
    for a, b in zip(buf._arrays(), restored._arrays()):
        np.testing.assert_array_equal(a, b)
    assert (buf.next, buf.size) == (restored.next, restored.size)
    r1, r2 = np.random.default_rng(1), np.random.default_rng(1)
    for x, y in zip(buf.sample(1, r1), restored.sample(1, r2)):
        np.testing.assert_array_equal(x, y)


def test_sampling_more_than_stored_is_an_error():
    buf = ReplayBuffer(10, 2)
    for t in transitions(3, 2, 0):
        buf.add(*t)
    with pytest.raises(ValueError, match="only 3 stored"):
        buf.sample(4, np.random.default_rng(0))
    assert buf.sample(3, np.random.default_rng(0)).obs.shape == (3, 2)


def test_memory_is_known_up_front_and_add_allocates_nothing():
    buf = ReplayBuffer(1000, 4)
    assert buf.bytes_per_transition == 2 * 4 * 4 + 8 + 4 + 4 == 48
    assert buf.nbytes == 48_000
    before = [a.__array_interface__["data"][0] for a in buf._arrays()]
    for t in transitions(2500, 4, 0):
        buf.add(*t)
    assert [a.__array_interface__["data"][0] for a in buf._arrays()] == before


def test_incompatible_state_is_refused():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(5, 2).load_state_dict(ReplayBuffer(6, 2).state_dict())


def test_sampling_is_uniform_over_stored_rows():
    """floor(U * size) (the fast index draw) hits every stored row equally often, and no other row."""
    buf = ReplayBuffer(100, 1)
    for i in range(10):
        buf.add([i], 0, 0.0, [i], False)
    rng = np.random.default_rng(0)
    rows = np.concatenate([buf.sample(10, rng).obs[:, 0] for _ in range(10_000)]).astype(int)
    counts = np.bincount(rows, minlength=10)
    assert counts.size == 10 and counts.sum() == 100_000
    # each count ~ Binomial(100000, 0.1): std ~ 95; 5 std either side
    assert np.all(np.abs(counts - 10_000) < 475), counts
