"""Greedy evaluation on separate environments, as bench/BENCHMARK.md defines it.

Episode k of an evaluation is reset with seed ``seed + k``. ``play`` runs the episodes together on
several copies of the env (one batched forward per step over the episodes still running), which gives
each episode the same start state, the same actions and so the same return as playing them one after
the other on one env (``evaluate``), only faster. Every episode is cut after ``max_steps`` steps (the
env's own time limit applies first), and the cut is counted, so an env without a time limit cannot
hang an evaluation; ``stop()`` is asked between steps, so a Ctrl-C is not held up either.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

EVAL_SEED = 10_000        # evaluation episode k is reset with seed EVAL_SEED + k
CONFIRM_SEED = 20_000     # confirmation episode k is reset with seed CONFIRM_SEED + k
HELDOUT_SEED = 1_000_000  # ``numpy-ddqn evaluate`` / ``record`` / ``evaluate_policy``: start states
                          # training never judged by (best.npz was chosen on EVAL_SEED's and CONFIRM_SEED's)


class Episodes(NamedTuple):
    """What ``play`` returns: one entry per episode, in seed order."""
    returns: np.ndarray       # (episodes,) float64: the sum of rewards
    lengths: np.ndarray       # (episodes,) int64: steps played
    cut: int                  # episodes cut at max_steps (neither terminated nor truncated by the env)
    stopped: bool             # stop() asked to end early: the arrays hold only finished episodes' values


def play(act_batch: Callable[..., np.ndarray], envs: list, episodes: int, seed: int = EVAL_SEED,
         max_steps: int = 0, stop: Callable[[], bool] | None = None,
         mask_of: Callable[..., np.ndarray] | None = None) -> Episodes:
    """Play ``episodes`` episodes on the env copies ``envs`` together; episode k is reset with ``seed + k``.

    Each copy plays one episode at a time and takes the next unplayed one when its episode ends; at
    every step ``act_batch(obs)``, ``obs: (R, *obs_shape)`` the observations of the R running episodes,
    returns their ``(R,)`` actions. ``max_steps`` > 0 cuts an episode after that many steps; ``stop()``,
    asked before every step, ends the evaluation early (``stopped=True``). With ``mask_of(env, info,
    terminated=False) -> (A,) bool`` (action masks) it is ``act_batch(obs, masks)``, ``masks: (R, A)`` the legal
    actions of the running episodes' states.
    """
    masks: list[Any] = [None] * min(len(envs), episodes)
    returns, lengths = [0.0] * episodes, [0] * episodes   # Python numbers: this loop runs once per env step
    slots = list(envs[:episodes])
    episode = [-1] * len(slots)             # the episode each copy plays
    obs: list[Any] = [None] * len(slots)
    cut, next_k = 0, 0
    for i, env in enumerate(slots):
        episode[i], next_k = next_k, next_k + 1
        obs[i], info = env.reset(seed=seed + episode[i])
        masks[i] = None if mask_of is None else mask_of(env, info)
    running = list(range(len(slots)))
    while running:
        if stop is not None and stop():
            return Episodes(np.array(returns), np.array(lengths, np.int64), cut, True)
        x = np.stack([obs[i] for i in running])                       # (R, *obs_shape)
        actions = act_batch(x) if mask_of is None else act_batch(x, np.stack([masks[i] for i in running]))  # (R,)
        still = []
        for i, action in zip(running, actions.tolist()):
            k = episode[i]
            obs[i], reward, terminated, truncated, info = slots[i].step(action)
            if mask_of is not None:
                masks[i] = mask_of(slots[i], info, terminated)
            returns[k] += reward            # summed in step order, as one env playing it alone would
            lengths[k] += 1
            if not (terminated or truncated or lengths[k] == max_steps):
                still.append(i)
                continue
            cut += not (terminated or truncated)
            if next_k < episodes:           # the copy takes the next episode
                episode[i], next_k = next_k, next_k + 1
                obs[i], info = slots[i].reset(seed=seed + episode[i])
                if mask_of is not None:
                    masks[i] = mask_of(slots[i], info)
                still.append(i)
        running = still
    return Episodes(np.array(returns), np.array(lengths, np.int64), cut, False)


def evaluate(policy, env, episodes, seed=EVAL_SEED, max_steps=0, mask_of=None):
    """Returns of ``episodes`` episodes on one env, one after the other; ``policy(obs) -> action``.

    Episode k is reset with ``seed + k`` and cut after ``max_steps`` steps if > 0. ``play`` gives the
    same returns with several env copies and a batched policy. With ``mask_of`` (as ``play``'s) it is
    ``policy(obs, mask)``, ``mask`` the (A,) bool legal actions.
    """
    if mask_of is None:
        act = lambda x: np.array([policy(x[0])])      # (1, *obs_shape) -> (1,)
    else:
        act = lambda x, masks: np.array([policy(x[0], masks[0])])
    return play(act, [env], episodes, seed, max_steps, mask_of=mask_of).returns


class SolveCheck(NamedTuple):
    """Outcome of one evaluation point: the 10-episode mean and, if it passed, the 100-episode one."""
    mean: float
    std: float
    confirm_mean: float | None
    solved: bool
    cut: int = 0                # episodes cut at the evaluation's max_steps
    stopped: bool = False       # a stop request ended it early: no result


def solve_check(act_batch, envs, threshold, episodes=10, confirm_episodes=100, max_steps=0, stop=None,
                on_confirm=None, mask_of=None):
    """Evaluate; if the mean reaches ``threshold``, confirm on ``confirm_episodes`` more (solved if >=).

    ``act_batch`` and ``envs`` as ``play``'s (a single env is one copy); ``on_confirm(mean)`` is called
    before a confirmation starts; ``mask_of`` as ``play``'s.
    """
    envs = envs if isinstance(envs, (list, tuple)) else [envs]
    first = play(act_batch, envs, episodes, EVAL_SEED, max_steps, stop, mask_of)
    mean, confirm, cut = float(first.returns.mean()), None, first.cut
    if first.stopped:
        return SolveCheck(mean, float(first.returns.std()), None, False, cut, True)
    if threshold is not None and mean >= threshold:
        if on_confirm is not None:
            on_confirm(mean)
        second = play(act_batch, envs, confirm_episodes, CONFIRM_SEED, max_steps, stop, mask_of)
        if second.stopped:
            return SolveCheck(mean, float(first.returns.std()), None, False, cut + second.cut, True)
        confirm, cut = float(second.returns.mean()), cut + second.cut
    return SolveCheck(mean, float(first.returns.std()), confirm, confirm is not None and confirm >= threshold, cut)


def evaluate_policy(model: Any, env: Any = None, n_eval_episodes: int = 10, deterministic: bool = True,
                    return_episode_rewards: bool = False, reward_threshold: float | None = None,
                    seed: int = HELDOUT_SEED, max_episode_steps: int | None = None,
                    copies: int = 10) -> tuple[float, float] | tuple[list[float], list[int]]:
    """Stable-Baselines3's ``evaluate_policy``: ``(mean, std)`` of the returns of ``n_eval_episodes`` episodes.

    Args:
        model: a ``DDQN`` (or anything with ``predict(obs_batch, deterministic=...) -> (actions, state)``).
        env: an env id, a Gymnasium env, or a vector env (each of its envs is a copy); default: the
            model's env id.
        deterministic: greedy actions (default), else epsilon-greedy at the model's exploration rate.
        return_episode_rewards: return ``(returns, lengths)`` lists instead, as SB3 does.
        reward_threshold: raise ``ValueError`` if the mean is below it, as SB3 does.
        seed: episode k is reset with ``seed + k``. The default (1,000,000) differs from the seeds the
            training's evaluations used (10,000 and 20,000), on which ``best.npz`` was chosen.
        max_episode_steps: cut an episode after this many steps (default: the model's
            ``eval_max_steps``); the env's own time limit applies first.
        copies: how many env copies play together (an env id only; an env instance plays alone).

    A model trained with ``action_masks`` acts over the legal actions of each state (its ``action_mask_fn``, the
    env's ``action_masks()`` or ``info["action_mask"]``).
    """
    from ..errors import ConfigError
    from .envs import check_spaces, env_copies, is_vector, make_env
    if isinstance(n_eval_episodes, bool) or not isinstance(n_eval_episodes, (int, np.integer)) or n_eval_episodes < 1:
        raise ConfigError(f"n_eval_episodes must be an int >= 1, got {n_eval_episodes!r}")
    config = getattr(model, "config", None)
    if env is None:
        env = getattr(config, "env_id", None)
    n = min(copies, int(n_eval_episodes))
    if isinstance(env, str):
        envs = [make_env(env) for _ in range(n)]
    else:
        check_spaces(env)                       # a one-line error for an object that is not an env
        envs = env_copies(env, n) if is_vector(env) else [env]
    if max_episode_steps is None:
        max_episode_steps = getattr(config, "eval_max_steps", 0)
    mask_of = None
    if getattr(config, "action_masks", False):  # a masked model acts over each state's legal actions
        from .action_masks import mask_reader
        mask_of = mask_reader(config.env_id, check_spaces(envs[0])[1], getattr(model, "action_mask_fn", None))
        act = lambda x, masks: np.asarray(model.predict(x, deterministic=deterministic, action_masks=masks)[0]
                                          ).reshape(len(x))
    else:
        act = lambda x: np.asarray(model.predict(x, deterministic=deterministic)[0]).reshape(len(x))
    result = play(act, envs, int(n_eval_episodes), seed, max_episode_steps or 0, mask_of=mask_of)
    mean, std = float(result.returns.mean()), float(result.returns.std())
    if reward_threshold is not None and mean < reward_threshold:
        raise ValueError(f"mean return {mean:.2f} is below the reward threshold {reward_threshold:.2f}")
    if return_episode_rewards:
        return result.returns.tolist(), result.lengths.tolist()
    return mean, std
