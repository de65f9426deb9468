"""The training loop: act, step env, store, learn (when due), sync target (when due), next observation.

``train(config)`` is the whole algorithm on one screen (read ``loop`` top to bottom; ``vector_loop`` is
the same for several envs stepped together). Everything around it (set-up and resume, the env's checks,
evaluation, checkpoints, the log, progress, signals) belongs to a ``Run`` (``runner.py``), which the loop
calls in one line per stage.
This module does not import gymnasium itself: ``envs`` does, only when an env must be made.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..config import Config
from ..rl.agent import DDQNAgent
from .runner import RESUME_FIELDS, History, Run, StepInfo

__all__ = ["train", "loop", "vector_loop", "History", "StepInfo", "RESUME_FIELDS"]


def train(config: Config | None = None, env: Any = None, out_dir: str | Path | None = None,
          resume: str | Path | None = None, eval_env: Any = None, agent: DDQNAgent | None = None,
          callback: Any = None, carry: dict | None = None, action_mask_fn: Any = None) -> History:
    """Train a Double-DQN agent; return its ``History``.

    Args:
        config: a ``Config`` (``Config()`` if omitted). When resuming, the checkpoint's config is
            used; a ``config`` given too changes only the fields ``RESUME_FIELDS`` names.
        env: a Gymnasium env instance; made from ``config.env_id`` if omitted.
        out_dir: run folder for ``config.json``, ``log.jsonl``, ``last.npz``, ``best.npz``;
            ``None`` keeps nothing on disk.
        resume: path of a checkpoint to continue from (its env is made again unless ``env`` is given).
        eval_env: the evaluation env (a second instance of the same env id by default).
        agent: a prepared ``DDQNAgent`` to train instead of a fresh one (one that has trained
            already goes on from its step count, on a fresh episode).
        callback: called after every env step with a ``StepInfo`` (a callable, or an object with
            ``on_step``); returning ``False`` stops training.
        carry: an earlier ``History``'s counters (``run.SAVED_HISTORY``) to go on from, for an
            ``agent`` trained on in the same process (the model API's second ``learn``).
        action_mask_fn: ``fn(env) -> mask`` of the legal actions ((A,) bool; (N, A) for a vector env), with
            ``config.action_masks``; else the env's ``action_masks()`` or ``info["action_mask"]``.
    """
    run = Run(config, env, out_dir, resume, eval_env, agent, callback, carry, action_mask_fn)
    with run:                      # signals, BLAS threads; a crash saves last.npz and logs why
        (vector_loop if run.vector else loop)(run)
    return run.history


def loop(run: Run) -> None:
    """Interact and learn until the budget is spent, the env is solved, or a signal asks to stop."""
    agent, config = run.agent, run.config
    obs = run.first_obs                                   # None: start with a fresh episode
    while agent.steps < config.total_steps and not run.stop_requested:
        if obs is None:
            obs = run.reset_env()
        # act: epsilon-greedy on Q_online(obs), over the legal actions run.mask (None: action masks off)
        mask = run.mask
        action = agent.act(obs, mask=mask)
        # step env (with its output checked: shapes, finite values, a scalar reward; run.mask becomes next_obs's)
        next_obs, reward, terminated, truncated = run.step_env(action)
        # store (s, a, r, s', terminated), n-step returns summed on the way; truncation is not stored: it bootstraps
        agent.store(obs, action, reward, next_obs, terminated, truncated, mask=mask, next_mask=run.mask)
        # learn, every train_freq steps once learning_starts transitions are stored: sample, target, gradient step
        metrics = agent.learn() if agent.learn_due() else None
        # sync target, every target_update_interval steps: theta_target <- theta_online
        if agent.sync_due():
            agent.sync_target()
        obs = None if terminated or truncated else next_obs
        # log, evaluate, checkpoint, report: none of it changes what the agent learns
        if run.record_step(reward, terminated, truncated, metrics):
            break                                         # solved, and config.stop_when_solved


def vector_loop(run: Run) -> None:
    """The same loop over ``num_envs`` envs stepped together (``gymnasium.vector``, next-step autoreset)."""
    agent, config = run.agent, run.config
    obs = run.first_obs if run.first_obs is not None else run.reset_env()   # (N, obs_dim)
    resetting = np.zeros(run.num_envs, bool)              # envs whose episode ended at the last step
    while agent.steps < config.total_steps and not run.stop_requested:
        # act: one epsilon-greedy action per env, over its legal actions (masks: (N, A) bool, or None)
        masks = run.mask
        actions = agent.act_batch(obs, masks)             # (N,)
        # step env: an env whose episode ended at the last step is reset now, its action ignored
        next_obs, rewards, terminated, truncated = run.step_envs(actions)
        # then transition by transition: a reset is no transition, so none crosses one,
        # and a truncated episode bootstraps from its real final observation (next_obs[i])
        for i in np.flatnonzero(~resetting):
            if agent.steps >= config.total_steps:
                return
            # store (s, a, r, s', terminated) through env i's n-step window
            agent.store(obs[i], actions[i], rewards[i], next_obs[i], terminated[i], truncated[i], i,
                        *(() if masks is None else (masks[i], run.mask[i])))
            # learn (when due)
            metrics = agent.learn() if agent.learn_due() else None
            # sync target (when due)
            if agent.sync_due():
                agent.sync_target()
            if run.record_step(rewards[i], terminated[i], truncated[i], metrics, env_index=i):
                return                                    # solved, and config.stop_when_solved
        resetting = terminated | truncated
        obs = next_obs
