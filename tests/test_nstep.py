"""n-step transitions against a naive reference built from whole recorded episodes."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.rl.nstep import NStepAccumulator
from numpy_ddqn.rl.targets import double_dqn_targets

episodes_strategy = st.lists(st.tuples(st.integers(1, 12), st.sampled_from(["terminated", "truncated"])),
                             min_size=1, max_size=5)


def record(episodes, rng):
    """Whole episodes of one-step transitions (s, a, r, s', terminated, truncated); obs = [episode, t]."""
    out = []
    for e, (length, end) in enumerate(episodes):
        steps = []
        for t in range(length):
            last = t == length - 1
            steps.append((np.array([e, t], float), int(rng.integers(3)), float(rng.normal()),
                          np.array([e, t + 1], float), last and end == "terminated", last and end == "truncated"))
        out.append(steps)
    return out


def naive(recorded, n, gamma, ongoing_last=False):
    """Every n-step transition, by definition: m = min(n, steps left), R = sum_k gamma^k r, bootstrap gamma^m."""
    out = []
    for i, steps in enumerate(recorded):
        T = len(steps)
        for t in range(T):
            m = min(n, T - t)
            if ongoing_last and i == len(recorded) - 1 and t + n > T:
                continue                      # not complete yet: the episode goes on
            ret = sum(gamma ** k * steps[t + k][2] for k in range(m))
            s, a = steps[t][0], steps[t][1]
            end = steps[t + m - 1]
            out.append((tuple(s), a, ret, tuple(end[3]), bool(end[4]), gamma ** m))
    return out


def run(acc, recorded):
    out = []
    for steps in recorded:
        for s, a, r, s2, term, trunc in steps:
            for tr in acc.push(s, a, r, s2, term, trunc):
                out.append((tuple(tr.obs), tr.action, tr.reward, tuple(tr.next_obs), tr.terminated, tr.discount))
    return out


def same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):               # same transitions, in the same (time) order
        assert g[:2] == w[:2] and g[3:5] == w[3:5], (g, w)
        np.testing.assert_allclose([g[2], g[5]], [w[2], w[5]], rtol=1e-12, atol=1e-12)


@given(episodes=episodes_strategy, n=st.integers(1, 10), gamma=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_n_step_transitions_match_the_definition(episodes, n, gamma, seed):
    recorded = record(episodes, np.random.default_rng(seed))
    same(run(NStepAccumulator(n, gamma), recorded), naive(recorded, n, gamma))


@given(episodes=episodes_strategy, n=st.integers(1, 10), gamma=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_an_unfinished_episode_emits_only_complete_windows(episodes, n, gamma, seed):
    recorded = record(episodes, np.random.default_rng(seed))
    recorded[-1] = recorded[-1][:-1]          # the last episode has not ended yet
    if not recorded[-1]:
        recorded.pop()
    if recorded:
        same(run(NStepAccumulator(n, gamma), recorded), naive(recorded, n, gamma, ongoing_last=True))


@given(episodes=episodes_strategy, n=st.integers(1, 10), cut=st.integers(0, 40), seed=st.integers(0, 2**32 - 1))
def test_state_dict_mid_episode_continues_identically(episodes, n, cut, seed):
    recorded = record(episodes, np.random.default_rng(seed))
    flat = [s for steps in recorded for s in steps]
    cut = min(cut, len(flat))
    a, out_a = NStepAccumulator(n, 0.9), []
    for step in flat[:cut]:
        out_a += a.push(*step)
    b = NStepAccumulator(1, 0.5)
    b.load_state_dict(a.state_dict())
    out_b = list(out_a)
    for step in flat[cut:]:
        out_a += a.push(*step)
        out_b += b.push(*step)
    assert [(tuple(t.obs), t.reward, t.discount) for t in out_a] == [(tuple(t.obs), t.reward, t.discount) for t in out_b]


def test_n_equal_1_gives_the_one_step_transitions():
    acc = NStepAccumulator(1, 0.99)
    (t,) = acc.push(np.zeros(2), 1, 0.5, np.ones(2), False)
    assert t.reward == 0.5 and t.discount == 0.99 and not t.terminated and acc.pending == []


def test_the_one_step_target_takes_a_per_transition_discount():
    q = np.array([[1.0, 3.0], [2.0, 0.0], [5.0, 4.0]])
    reward, terminated, discount = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.0]), np.array([0.9, 0.81, 0.729])
    y = double_dqn_targets(reward, terminated, q, q, discount)
    np.testing.assert_allclose(y, [1 + 0.9 * 3, 2.0, 3 + 0.729 * 5])
