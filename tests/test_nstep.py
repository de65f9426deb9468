"""n-step transitions against a naive reference built from whole recorded episodes, and end to end (the issue-13
specification): the accumulator's output is stored in a ``ReplayBuffer(store_discount=True)``, read back and
turned into targets by the unchanged ``double_dqn_targets`` with the (B,) discount array in place of gamma; the
result must equal the definition

    y_t = sum_{k<m} gamma^k r_{t+k} + gamma^m (1 - terminated) Q_target(s_{t+m}, argmax_a Q_online(s_{t+m}, a))

computed with plain Python loops from whole recorded episodes. Transitions are compared in the order
they are emitted, which is time order (the oldest pending transition first).
"""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.checkpoint import load_checkpoint, save_checkpoint
from numpy_ddqn.rl.nstep import NStepAccumulator
from numpy_ddqn.rl.replay import ReplayBuffer
from numpy_ddqn.rl.targets import double_dqn_targets

episodes_strategy = st.lists(st.tuples(st.integers(1, 12), st.sampled_from(["terminated", "truncated"])),
                             min_size=1, max_size=5)
N_ACTIONS = 3
# (length, how it ends): "both" is gymnasium's terminated=True and truncated=True on the same step;
# "ongoing" (allowed only for the last episode) has not ended when the recording stops
episode = st.tuples(st.integers(1, 15), st.sampled_from(["terminated", "truncated", "both"]))
recordings = st.tuples(st.lists(episode, min_size=1, max_size=5), st.sampled_from([None, "ongoing"]))


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



def record_episodes(episodes, last, rng, dtype=np.float64):
    """Whole episodes as lists of (s, a, r, s', terminated, truncated); s_t = [episode, t, noise]."""
    out = []
    for e, (length, end) in enumerate(episodes):
        if last == "ongoing" and e == len(episodes) - 1:
            end = "ongoing"
        obs = [np.array([e, t, rng.normal()], dtype) for t in range(length + 1)]   # s_0 .. s_T
        out.append([(obs[t], int(rng.integers(N_ACTIONS)), float(rng.normal()), obs[t + 1],
                     t == length - 1 and end in ("terminated", "both"),
                     t == length - 1 and end in ("truncated", "both")) for t in range(length)])
    return out


def naive_targets(recorded, n, gamma, q_online, q_target):
    """Every complete n-step transition and its Double-DQN target, by definition (plain loops)."""
    out = []
    for steps in recorded:
        T = len(steps)
        ended = steps[-1][4] or steps[-1][5]
        for t in range(T):
            if not ended and t + n > T:
                continue                           # the window is not complete yet: nothing emitted
            m = min(n, T - t)
            ret = 0.0
            for k in range(m):
                ret += gamma ** k * steps[t + k][2]
            s_m, terminated = steps[t + m - 1][3], steps[t + m - 1][4]
            qo, qt = q_online(s_m), q_target(s_m)
            a_star = max(range(N_ACTIONS), key=lambda a: (qo[a], -a))     # first argmax, as np.argmax
            y = ret + gamma ** m * (0.0 if terminated else 1.0) * qt[a_star]
            out.append((steps[t][0], steps[t][1], s_m, terminated, gamma ** m, y))
    return out


def push_all(acc, steps):
    out = []
    for step in steps:
        out += acc.push(*step)
    return out


@given(rec=recordings, n=st.integers(1, 10), gamma=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_targets_from_the_replay_match_the_n_step_definition(rec, n, gamma, seed):
    rng = np.random.default_rng(seed)
    recorded = record_episodes(*rec, rng)
    W_online, W_target = rng.normal(size=(3, N_ACTIONS)), rng.normal(size=(3, N_ACTIONS))
    want = naive_targets(recorded, n, gamma, lambda s: s @ W_online, lambda s: s @ W_target)

    acc = NStepAccumulator(n, gamma)
    emitted = push_all(acc, [step for steps in recorded for step in steps])
    assert len(emitted) == len(want)
    if not emitted:
        return
    replay = ReplayBuffer(len(emitted), 3, np.float64, store_discount=True)
    for tr in emitted:
        replay.add(tr.obs, tr.action, tr.reward, tr.next_obs, tr.terminated, tr.discount)
    batch = replay.gather(np.arange(len(emitted)))
    y = double_dqn_targets(batch.reward, batch.terminated, batch.next_obs @ W_online, batch.next_obs @ W_target,
                           batch.discount)                                     # gamma -> the (B,) discount
    for i, (s, a, s_m, terminated, discount, y_naive) in enumerate(want):    # same transitions, same order
        np.testing.assert_array_equal(batch.obs[i], s)
        np.testing.assert_array_equal(batch.next_obs[i], s_m)
        assert batch.action[i] == a and batch.terminated[i] == terminated
        np.testing.assert_allclose(batch.discount[i], discount, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(y, [w[-1] for w in want], rtol=1e-10, atol=1e-10, err_msg="mine vs naive")


@given(rec=recordings, n=st.integers(1, 10), gamma=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_no_transition_crosses_an_episode_boundary(rec, n, gamma, seed):
    recorded = record_episodes(*rec, np.random.default_rng(seed))
    for tr in push_all(NStepAccumulator(n, gamma), [step for steps in recorded for step in steps]):
        assert tr.obs[0] == tr.next_obs[0]                        # same episode
        assert 1 <= tr.next_obs[1] - tr.obs[1] <= n               # m steps later, m <= n


@given(rec=recordings, gamma=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_n_equal_1_reproduces_the_one_step_transitions_exactly(rec, gamma, seed):
    acc = NStepAccumulator(1, gamma)
    for steps in record_episodes(*rec, np.random.default_rng(seed), np.float32):
        for s, a, r, s2, terminated, truncated in steps:
            (tr,) = acc.push(s, a, r, s2, terminated, truncated)
            np.testing.assert_array_equal(tr.obs, s)
            np.testing.assert_array_equal(tr.next_obs, s2)
            assert tr.obs.dtype == s.dtype and tr.next_obs.dtype == s2.dtype
            assert (tr.action, tr.reward, tr.terminated, tr.discount) == (a, r, terminated, gamma)
            assert not acc.pending


@given(rec=recordings, n=st.integers(1, 10), gamma=st.floats(0, 1), cut=st.integers(0, 60),
       seed=st.integers(0, 2**32 - 1))
def test_a_checkpoint_mid_episode_continues_bit_exactly(tmp_path_factory, rec, n, gamma, cut, seed):
    """state_dict -> save_checkpoint (.npz + JSON) -> load -> a fresh accumulator emits the same bits."""
    flat = [step for steps in record_episodes(*rec, np.random.default_rng(seed), np.float32) for step in steps]
    cut = min(cut, len(flat))
    a = NStepAccumulator(n, gamma)
    push_all(a, flat[:cut])
    path = save_checkpoint(tmp_path_factory.mktemp("nstep") / "acc.npz", {"nstep": a.state_dict()})
    b = NStepAccumulator(1, 0.5)                                  # n and gamma come from the state
    b.load_state_dict(load_checkpoint(path)["nstep"])
    assert (b.n, b.gamma) == (a.n, a.gamma)
    for step in flat[cut:]:
        out_a, out_b = a.push(*step), b.push(*step)
        assert len(out_a) == len(out_b)
        for ta, tb in zip(out_a, out_b):
            np.testing.assert_array_equal(ta.obs, tb.obs)
            np.testing.assert_array_equal(ta.next_obs, tb.next_obs)
            assert ta.obs.dtype == tb.obs.dtype
            assert (ta.action, ta.reward, ta.terminated, ta.discount) == (tb.action, tb.reward, tb.terminated,
                                                                          tb.discount)


@given(B=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))
def test_double_dqn_targets_take_a_per_transition_discount_array(B, seed):
    rng = np.random.default_rng(seed)
    reward, terminated = rng.normal(size=B), (rng.random(B) < 0.3).astype(float)
    discount = rng.random(B)
    q_online, q_target = rng.normal(size=(B, N_ACTIONS)), rng.normal(size=(B, N_ACTIONS))
    naive = [reward[i] + discount[i] * (1 - terminated[i]) * q_target[i, int(np.argmax(q_online[i]))]
             for i in range(B)]
    y = double_dqn_targets(reward, terminated, q_online, q_target, discount)
    assert y.shape == (B,)
    np.testing.assert_allclose(y, naive, rtol=1e-12, atol=1e-12)
