"""The training loop: reset, act, step, learn, next observation; evaluate, checkpoint, log.

``train(config)`` drives one Gymnasium environment (made from ``config.env_id`` or passed in).
This module does not import gymnasium itself: ``envs`` does, only when an env must be made.
"""
from __future__ import annotations

import math
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .agent import DDQNAgent, DivergenceError
from .checkpoint import agent_from_checkpoint, save_checkpoint
from .config import Config
from .errors import CheckpointError, EnvError
from .evaluate import solve_check
from .runlog import BEST, LAST, Diagnostics, Progress, RunLog
from .seeding import rng_state, set_rng_state



@dataclass
class History:
    """What a run did: per-episode returns, evaluations, how it ended, timings, files."""
    episode_returns: list = field(default_factory=list)
    episode_lengths: list = field(default_factory=list)
    evals: list = field(default_factory=list)       # dicts: step, mean, std, confirm_mean, solved
    steps: int = 0
    episodes: int = 0
    solved: bool = False
    solved_at: int | None = None                    # env steps at the solving check
    reason: str = ""                                # "solved", "budget", "interrupted"
    signal: int | None = None                       # the signal that interrupted the run
    train_wall_s: float = 0.0                       # time in the loop, evaluation excluded
    total_wall_s: float = 0.0                       # everything, evaluation included
    solve_train_wall_s: float | None = None         # train_wall_s up to the solving check
    solve_total_wall_s: float | None = None         # total_wall_s up to solved (confirmation included)
    best_eval: float | None = None
    out_dir: Path | None = None
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    agent: DDQNAgent | None = None                  # the trained agent


class _StopOnSignal:
    """While active, SIGINT/SIGTERM set ``self.signum`` instead of killing the process."""

    def __init__(self):
        self.signum, self._old = None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signum = signum

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _spaces(env):
    from .envs import check_spaces
    return check_spaces(env)


def train(config=None, env=None, out_dir=None, resume=None, eval_env=None, agent=None):
    """Train a Double-DQN agent; return its ``History``.

    Args:
        config: a ``Config`` (``Config()`` if omitted). Ignored when resuming, except for
            ``total_steps``, ``stop_when_solved`` and ``progress_interval``.
        env: a Gymnasium env instance; made from ``config.env_id`` if omitted.
        out_dir: run folder for ``config.json``, ``log.jsonl``, ``last.npz``, ``best.npz``;
            ``None`` keeps nothing on disk.
        resume: path of a checkpoint to continue from.
        eval_env: the evaluation env (a second instance of the same env id by default).
        agent: a prepared ``DDQNAgent`` to train instead of a fresh one.
    """
    from .envs import check_finite, env_rng, make_env
    config = config or Config()
    env = env if env is not None else make_env(config.env_id)
    obs_dim, n_actions = _spaces(env)
    env_id = getattr(env.spec, "id", None) or config.env_id   # a spec-less env goes by the config's id
    loop = {}
    if resume is not None:
        agent, saved = agent_from_checkpoint(resume, obs_dim, n_actions)
        if saved.get("env_id") != env_id:
            raise CheckpointError(f"{resume} was trained on {saved.get('env_id')}, not {env_id}")
        agent.config = config = agent.config.replace(
            total_steps=config.total_steps, stop_when_solved=config.stop_when_solved,
            progress_interval=config.progress_interval)
        loop = saved.get("loop", {})
    agent = agent or DDQNAgent(obs_dim, n_actions, config)
    if config.eval_interval > 0:
        if eval_env is None:
            if getattr(env, "spec", None) is None:
                raise EnvError("this env has no registered spec to make an evaluation copy from: "
                               "pass eval_env=..., or set eval_interval=0")
            eval_env = make_env(env.spec)              # a second instance, same kwargs
        eval_spaces = _spaces(eval_env)
        if eval_spaces != (obs_dim, n_actions):
            raise EnvError(f"eval_env has {eval_spaces} (observations, actions); the training env "
                           f"has {(obs_dim, n_actions)}")
    threshold = getattr(env.spec, "reward_threshold", None)

    history = History(out_dir=None if out_dir is None else Path(out_dir))
    log = RunLog(out_dir, config)
    progress = Progress(config.total_steps, config.progress_interval)
    history.episodes = int(loop.get("episodes", 0))
    history.best_eval = loop.get("best_eval")
    recent = deque(maxlen=20)
    last_eval = history.best_eval
    last_saved_at = None                                # env step of the newest last.npz

    def checkpoint(name, mid_episode):
        nonlocal last_saved_at
        if history.out_dir is None:
            return None
        if name == LAST:
            last_saved_at = agent.steps
        rng = env_rng(env)
        return save_checkpoint(history.out_dir / name, {
            "config": config.to_dict(), "env_id": env_id, "obs_dim": obs_dim, "n_actions": n_actions,
            "agent": agent.state_dict(include_replay=config.save_replay),
            "loop": {"episodes": history.episodes, "best_eval": history.best_eval,
                     "mid_episode": mid_episode, "env_rng": None if rng is None else rng_state(rng)}})

    if resume is None:
        obs, _ = env.reset(seed=config.seed)           # the only seeded reset; later ones continue its RNG
        env.action_space.seed(config.seed)
        log.write("event", event="start", step=0, env_id=env_id, seed=config.seed, threshold=threshold)
    else:
        obs = None                                     # resume on an episode boundary
        if loop.get("env_rng") is not None and env_rng(env) is not None:
            set_rng_state(env_rng(env), loop["env_rng"])
        log.write("event", event="resume", step=agent.steps, checkpoint=str(resume),
                  exact=not loop.get("mid_episode", True) and "replay" in saved["agent"])
    episode_return, episode_length = 0.0, 0
    diagnostics = Diagnostics(agent.steps)
    t_start = time.perf_counter()
    eval_time = 0.0                                    # seconds spent evaluating (not training)

    def end_episode(terminated):
        history.episodes += 1
        recent.append(episode_return)
        history.episode_returns.append(episode_return)
        history.episode_lengths.append(episode_length)
        log.write("episode", step=agent.steps, episode=history.episodes, ret=episode_return,
                  length=episode_length, epsilon=agent.epsilon, terminated=bool(terminated))

    def evaluate_and_checkpoint(mid_episode):
        nonlocal eval_time, last_eval
        t_eval = time.perf_counter()
        check = solve_check(agent.greedy_action, eval_env, threshold, config.eval_episodes,
                            config.confirm_episodes)
        row = {"step": agent.steps, "mean": check.mean, "std": check.std,
               "confirm_mean": check.confirm_mean, "solved": check.solved}
        history.evals.append(row)
        log.write("eval", **row)
        last_eval = check.mean
        improved = history.best_eval is None or check.mean > history.best_eval
        if improved:
            history.best_eval = check.mean
        history.last_checkpoint = checkpoint(LAST, mid_episode)
        if improved and history.out_dir is not None:
            history.best_checkpoint = checkpoint(BEST, mid_episode)
        if check.solved and not history.solved:
            history.solved, history.solved_at = True, agent.steps
            history.solve_train_wall_s = t_eval - t_start - eval_time
            history.solve_total_wall_s = time.perf_counter() - t_start
        eval_time += time.perf_counter() - t_eval
        return check

    try:
        with _StopOnSignal() as stop:
            while agent.steps < config.total_steps and stop.signum is None:
                if obs is None:                        # a new episode
                    obs, _ = env.reset()
                    episode_return, episode_length = 0.0, 0
                # act
                action = agent.act(obs)
                # step env
                next_obs, reward, terminated, truncated, _ = env.step(action)
                if not math.isfinite(reward + float(next_obs.sum())):   # cheap guard, exact check on failure
                    check_finite(agent.steps + 1, "observation", next_obs, env_id)
                    check_finite(agent.steps + 1, "reward", reward, env_id)
                # learn: store (s, a, r, s', terminated); update and sync the target when due
                metrics = agent.observe(obs, action, reward, next_obs, terminated, truncated)
                episode_return += reward
                episode_length += 1
                obs = next_obs
                if terminated or truncated:
                    end_episode(terminated)
                    obs = None                         # reset at the top of the next iteration

                # log, evaluate, report: none of it changes what the agent learns
                diagnostics.add(metrics)
                steps = agent.steps
                if steps % config.log_interval == 0:
                    diagnostics.write(log, agent, eval_time)
                if config.eval_interval and steps % config.eval_interval == 0:
                    if evaluate_and_checkpoint(mid_episode=obs is not None).solved and config.stop_when_solved:
                        break
                if steps % 128 == 0 and progress.due():
                    progress.show(steps, history.episodes, sum(recent) / len(recent) if recent else None,
                                  agent.epsilon, diagnostics.last_loss, last_eval)
            history.signal = stop.signum
    except DivergenceError as e:
        log.write("event", event="diverged", step=agent.steps, message=str(e))
        log.close()
        kept = f"; the last good checkpoint is {history.last_checkpoint}" if history.last_checkpoint else ""
        raise DivergenceError(f"{e}{kept}") from None

    history.total_wall_s = time.perf_counter() - t_start
    history.train_wall_s = history.total_wall_s - eval_time
    history.steps = agent.steps
    history.reason = ("interrupted" if history.signal is not None else
                      "solved" if history.solved and config.stop_when_solved else "budget")
    if last_saved_at != agent.steps:                   # not already saved by this step's evaluation
        history.last_checkpoint = checkpoint(LAST, obs is not None)
    log.write("event", event="stop", step=agent.steps, reason=history.reason, signal=history.signal)
    log.write("summary", **summary_fields(history))
    log.close()
    history.agent = agent
    return history


def summary_fields(history):
    """The end-of-run summary as a JSON-friendly dict."""
    return {"reason": history.reason, "steps": history.steps, "episodes": history.episodes,
            "solved": history.solved, "solved_at": history.solved_at, "best_eval": history.best_eval,
            "train_wall_s": round(history.train_wall_s, 3), "total_wall_s": round(history.total_wall_s, 3),
            "solve_train_wall_s": history.solve_train_wall_s, "solve_total_wall_s": history.solve_total_wall_s,
            "out_dir": None if history.out_dir is None else str(history.out_dir),
            "last_checkpoint": None if history.last_checkpoint is None else str(history.last_checkpoint),
            "best_checkpoint": None if history.best_checkpoint is None else str(history.best_checkpoint)}
