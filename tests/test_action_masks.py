"""Action masks end to end: acting, storing, learning and evaluating over the legal actions only.

``MaskedChain`` (tests/masked_envs.py) ends an episode with -10 on an illegal action and counts it; its observation
is the one-hot position, so the legal actions of every stored observation are known (``legal(position)``)."""
import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from masked_envs import N_ACTIONS, MaskedChain, MaskedChainMethod, legal  # noqa: E402

from numpy_ddqn import Config, train  # noqa: E402
from numpy_ddqn.errors import EnvError  # noqa: E402
from numpy_ddqn.model import DDQN  # noqa: E402
from numpy_ddqn.policy import Policy  # noqa: E402
from numpy_ddqn.rl.agent import DDQNAgent  # noqa: E402
from numpy_ddqn.rl.masks import unpack_masks  # noqa: E402
from numpy_ddqn.rl.nstep import NStepAccumulator  # noqa: E402
from numpy_ddqn.rl.targets import RULES  # noqa: E402


def chain_config(**changes):
    base = dict(env_id="MaskedChain-v0", action_masks=True, learning_starts=200, batch_size=32, buffer_size=30_000,
                hidden_sizes=(32,), exploration_steps=2_000, eval_interval=1_000, eval_episodes=3,
                confirm_episodes=3, stop_when_solved=False, progress_interval=0)
    return Config(**{**base, **changes})


def stored_positions(replay):
    """Positions of the stored obs and next_obs (one-hot), and the stored masks unpacked."""
    n = replay.size
    return (replay.obs[:n].argmax(axis=1), replay.next_obs[:n].argmax(axis=1),
            unpack_masks(replay.mask[:n], N_ACTIONS), unpack_masks(replay.next_mask[:n], N_ACTIONS))


def check_stored_masks_are_the_envs(replay):
    pos, next_pos, mask, next_mask = stored_positions(replay)
    np.testing.assert_array_equal(mask, np.array([legal(p) for p in pos]), err_msg="masks at s: stored vs env")
    np.testing.assert_array_equal(next_mask, np.array([legal(p) for p in next_pos]), err_msg="masks at s'")
    assert all(mask[i, replay.action[i]] for i in range(replay.size)), "a stored action is illegal"


def test_20000_training_steps_and_every_evaluation_never_take_an_illegal_action():
    train_env, eval_env = MaskedChain(), MaskedChain()
    history = train(chain_config(total_steps=20_000, n_step=3), env=train_env, eval_env=eval_env)
    assert history.steps == 20_000 and len(history.evals) == 20
    assert train_env.illegal == 0 and eval_env.illegal == 0
    assert history.evals[-1]["mean"] > 0       # and it learned to reach the goal


@pytest.mark.parametrize("env_class, n_step", [(MaskedChain, 1), (MaskedChainMethod, 3)])
def test_the_stored_masks_equal_the_envs_transition_by_transition(env_class, n_step):
    model = DDQN(env_class(), eval_env=env_class(), **{k: v for k, v in chain_config(n_step=n_step).to_dict().items()
                                                       if k != "env_id"})
    model.learn(1_500)
    assert model.agent.replay.size > 1_400        # n-step: a few still pending
    check_stored_masks_are_the_envs(model.agent.replay)


def test_vector_env_masks_per_sub_env_across_autoreset():
    envs = gym.vector.SyncVectorEnv([MaskedChain for _ in range(3)])
    history = train(chain_config(total_steps=3_000, num_envs=3, n_step=1, eval_interval=0), env=envs)
    replay = history.agent.replay
    assert replay.size == 3_000 and sum(e.illegal for e in envs.envs) == 0
    check_stored_masks_are_the_envs(replay)
    pos, next_pos, _, _ = stored_positions(replay)
    moves = np.array([-1, 1, 2, 0])[replay.action[:replay.size]]
    # no stored transition crosses a reset: s' is s moved by the action taken (the goal caps the move)
    np.testing.assert_array_equal(next_pos, np.minimum(pos + moves, 7))


def test_a_vector_env_of_envs_with_an_action_masks_method():
    envs = gym.vector.SyncVectorEnv([MaskedChainMethod for _ in range(2)])
    history = train(chain_config(total_steps=800, num_envs=2, n_step=3, eval_interval=0, munchausen=True), env=envs)
    assert sum(e.illegal for e in envs.envs) == 0
    check_stored_masks_are_the_envs(history.agent.replay)


@pytest.mark.parametrize("name", sorted(n for n, r in RULES.items() if not r.raw))
def test_the_target_ignores_a_masked_action_whose_q_is_the_largest(name):
    rule = RULES[name]
    q = np.zeros((2, 3))
    action, reward, terminated = np.array([0, 1]), np.array([1.0, 0.0]), np.zeros(2)
    q_next = np.array([[100.0, 1.0, 2.0], [3.0, 50.0, -1.0]])   # the largest Q of each row is masked
    mask_next = np.array([[False, True, True], [True, False, True]])
    extra = {"q_target": np.zeros((2, 3)), "mask": np.ones((2, 3), bool), "tau": 1e-4} if rule.target_obs else {}
    _, _, td = rule.learn(q, action, reward, terminated, 0.5, q_next, q_next, "mse", None, mask_next=mask_next,
                          **extra)
    y = q[[0, 1], action] - td
    np.testing.assert_allclose(y, reward + 0.5 * np.array([2.0, 3.0]), atol=1e-3)   # the best legal ones
    _, _, td_all = rule.learn(q, action, reward, terminated, 0.5, q_next, q_next, "mse", None, **{
        k: v for k, v in extra.items() if k != "mask"})
    assert (td_all < td).all()                  # unmasked, the illegal 100 and 50 would be bootstrapped from


@pytest.mark.parametrize("name", sorted(n for n, r in RULES.items() if r.raw))
def test_a_distributional_rule_bootstraps_from_the_best_legal_action(name):
    """Masked, the rule learns exactly what it learns unmasked once the illegal action's outputs are pushed below
    every legal one's (so nothing but the mask could have excluded it)."""
    rng = np.random.default_rng(0)
    B, A, N = 3, 4, 5
    params = dict(z=np.linspace(0.0, 10.0, N)) if "categorical" in name else dict(taus=(2 * np.arange(N) + 1) / (2 * N))
    out = rng.normal(size=(B, A, N))
    out_next = rng.normal(size=(B, A, N))
    out_next[:, 0] += 50.0                       # action 0 looks best at s' (the largest mean) but is illegal
    mask_next = np.ones((B, A), bool)
    mask_next[:, 0] = False
    args = (out, np.array([0, 1, 2]), np.ones(B), np.zeros(B), 0.9)
    masked = RULES[name].learn(*args, out_next, out_next, "huber", None, mask_next=mask_next, **params)
    pushed = out_next.copy()
    pushed[:, 0] -= 100.0                        # now the best action is a legal one without any mask
    plain = RULES[name].learn(*args, pushed, pushed, "huber", None, **params)
    np.testing.assert_allclose(masked[0], plain[0])
    np.testing.assert_allclose(masked[2], plain[2])
    np.testing.assert_allclose(masked[1], plain[1])


def test_the_munchausen_bonus_uses_the_legal_actions_at_s():
    rule = RULES["munchausen"]
    q_target = np.array([[0.0, 0.0, 10.0]])     # an illegal action with a large Q at s would make pi(a0|s) ~ 0
    args = (np.zeros((1, 3)), np.array([0]), np.zeros(1), np.ones(1), 0.9, None, np.zeros((1, 3)), "mse", None)
    legal_s = np.array([[True, True, False]])
    _, _, td_masked = rule.learn(*args, q_target=q_target, mask=legal_s, mask_next=np.ones((1, 3), bool), tau=1.0)
    _, _, td_free = rule.learn(*args, q_target=q_target, tau=1.0)
    np.testing.assert_allclose(-td_masked, 0.9 * np.log(0.5))   # pi over the two legal actions: 1/2 each
    np.testing.assert_allclose(-td_free, 0.9 * max(np.log(1 / (2 + np.exp(10.0))), -1.0))


def test_the_n_step_writer_keeps_the_first_states_mask_and_the_last_next_states():
    acc = NStepAccumulator(3, 0.9)
    masks = [np.array([i % 2 == 0, True, i == 3]) for i in range(5)]
    out = []
    for t in range(4):
        out += acc.push(np.full(2, t), 1, 1.0, np.full(2, t + 1), t == 3, False, masks[t], masks[t + 1])
    assert [int(o.obs[0]) for o in out] == [0, 1, 2, 3]
    for o in out:
        t, m = int(o.obs[0]), int(o.next_obs[0])
        np.testing.assert_array_equal(o.mask, masks[t])
        np.testing.assert_array_equal(o.next_mask, masks[m])
    state = NStepAccumulator(3, 0.9)
    state.push(np.zeros(2), 1, 1.0, np.ones(2), False, False, masks[0], masks[1])
    again = NStepAccumulator(3, 0.9)
    again.load_state_dict(state.state_dict())
    np.testing.assert_array_equal(again.pending_masks[0], masks[0])


def test_acting_explores_uniformly_over_the_legal_actions_and_is_greedy_over_them():
    agent = DDQNAgent(4, 5, Config(action_masks=True, epsilon_start=1.0, epsilon_end=1.0))
    mask = np.array([False, True, False, True, True])
    counts = np.bincount([agent.act(np.zeros(4), mask=mask) for _ in range(3_000)], minlength=5)
    assert counts[~mask].sum() == 0 and counts[mask].min() > 900
    batch = agent.act_batch(np.zeros((400, 4)), np.tile(mask, (400, 1)))
    assert mask[batch].all()
    agent.online.flat[...] = 0                    # every Q equal: the greedy legal action is the first legal one
    assert agent.act(np.zeros(4), greedy=True, mask=mask) == 1


def test_a_state_without_legal_action_is_one_env_error_with_the_step():
    class Stuck(MaskedChain):
        def _info(self):
            return {"action_mask": np.zeros(4, np.int8) if self.t == 5 else legal(self.position).astype(np.int8)}
    with pytest.raises(EnvError, match=r"no legal action at env step 5\b") as e:
        train(chain_config(total_steps=100, eval_interval=0), env=Stuck())
    assert "\n" not in str(e.value).split("; saved")[0]


def test_a_misshapen_mask_is_one_env_error_with_the_step():
    class Short(MaskedChain):
        def _info(self):
            return {"action_mask": legal(self.position)[:3] if self.t == 7 else legal(self.position)}
    with pytest.raises(EnvError, match=r"action mask of shape \(3,\) and dtype bool at env step 7; expected 4 "):
        train(chain_config(total_steps=100, eval_interval=0), env=Short())


def test_an_env_without_masks_is_one_clear_error():
    with pytest.raises(EnvError, match=r"provides no action mask: neither info\['action_mask'\] nor an "
                                       r"action_masks\(\) method"):
        train(chain_config(total_steps=100, eval_interval=0), env=MaskedChain(source="none"))


def test_the_model_api_takes_a_mask_function_and_predict_takes_masks():
    calls = []

    def fn(env):
        calls.append(1)
        return legal(env.unwrapped.position)

    env = MaskedChain(source="none")
    model = DDQN(env, action_mask_fn=fn, eval_env=MaskedChain(source="none"),
                 **{k: v for k, v in chain_config(total_steps=800).to_dict().items() if k != "env_id"})
    assert model.config.action_masks
    model.learn(800)
    assert env.illegal == 0 and len(calls) > 800
    obs = np.eye(8, dtype=np.float32)
    masks = np.array([legal(p) for p in range(8)])
    actions, _ = model.predict(obs, action_masks=masks)
    assert masks[np.arange(8), actions].all()
    explored, _ = model.predict(obs, deterministic=False, action_masks=masks)
    assert masks[np.arange(8), explored].all()
    from numpy_ddqn.run.evaluate import evaluate_policy
    judge = MaskedChain(source="none")            # masks from the model's action_mask_fn
    evaluate_policy(model, judge, n_eval_episodes=5, deterministic=False)
    assert judge.illegal == 0



def test_a_saved_masked_model_loads_and_goes_on_learning_over_legal_actions(tmp_path):
    env = MaskedChain()
    model = DDQN(env, eval_env=MaskedChain(), **{k: v for k, v in chain_config().to_dict().items() if k != "env_id"})
    model.learn(500)
    model.save(tmp_path / "model.npz")
    again = DDQN.load(tmp_path / "model.npz", env=MaskedChain(source="none"), action_mask_fn=lambda e: legal(e.position))
    assert again.config.action_masks
    again.eval_env = MaskedChain()
    again.learn(500)
    assert again.num_timesteps == 1_000 and again.env.illegal == 0 and env.illegal == 0


def test_the_exported_policy_acts_over_the_legal_actions():
    agent = DDQNAgent(8, 4, Config(hidden_sizes=(16,), action_masks=True))
    from numpy_ddqn.checkpoint import agent_policy
    policy = agent_policy(agent)
    obs = np.eye(8, dtype=np.float32)
    masks = np.array([legal(p) for p in range(8)])
    q = policy.q_values(obs)
    expected = [int(np.flatnonzero(masks[i])[q[i, masks[i]].argmax()]) for i in range(8)]   # per row, naively
    assert policy.act(obs, masks).tolist() == expected
    assert policy.act(obs[3], masks[3].astype(np.int8)) == expected[3]
    assert policy.act(obs[3]) == int(q[3].argmax())
    with pytest.raises(ValueError, match="no legal action"):
        policy.act(obs[3], np.zeros(4, bool))
    with pytest.raises(ValueError, match="shape"):
        Policy.act(policy, obs, masks[:, :3])


def test_a_masked_checkpoint_resumes_with_its_replays_masks(tmp_path):
    config = chain_config(total_steps=600, eval_interval=0, n_step=3)
    train(config, env=MaskedChain(), out_dir=tmp_path / "run")
    env = MaskedChain()
    history = train(config.replace(total_steps=900), env=env, resume=tmp_path / "run" / "last.npz")
    assert history.steps == 900 and env.illegal == 0
    check_stored_masks_are_the_envs(history.agent.replay)


@pytest.mark.parametrize("n_actions", [4, 9])
def test_the_memory_plan_counts_the_stored_mask_bits(n_actions):
    for prioritized in (False, True):
        agent = DDQNAgent(8, n_actions, Config(action_masks=True, buffer_size=1_000, learning_starts=64,
                                               prioritized=prioritized))
        replay = agent.replay
        assert replay.mask.shape == replay.next_mask.shape == (1_000, -(-n_actions // 8))
        assert agent.memory.replay_bytes == replay.nbytes + type(replay).extra_bytes(replay.capacity)
