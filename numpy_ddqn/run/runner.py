"""Everything around the training loop, as named methods of one ``Run``.

Set-up (envs, agent, resume from a checkpoint), the env's output checked at every step, episode
bookkeeping, evaluation with the solve check, checkpoints, the run log, the progress line, the signal
guard (``run/signals.py``), the BLAS thread limit, and what happens when something fails mid-run: the loop in
``run/loop.py`` calls each in one line and stays the algorithm alone.
"""
from __future__ import annotations

import math
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..callbacks import as_callback
from ..checkpoint import save_checkpoint
from ..config import Config, preset_name
from ..errors import (
    CheckpointError,
    ConfigError,
    DivergenceError,
    EnvError,
    NumpyDDQNError,
    TrainingError,
)
from ..rl.agent import DDQNAgent
from ..rl.masks import masked_argmax
from ..rl.seeding import rng_state, set_rng_state
from .action_masks import check_env_mask, env_mask, mask_source
from .envs import env_rng
from .evaluate import solve_check
from .report import Progress, start_line, summary_fields
from .runlock import RunLock
from .runlog import BEST, LAST, LOG_NAME, Diagnostics, RunLog, cut_log
from .signals import StopNow, StopOnSignal

RESUME_FIELDS = ("total_steps", "stop_when_solved", "progress_interval", "threads", "tensorboard")
"""The config fields a resumed run may change; every other one is the checkpoint's."""


@dataclass
class History:
    """What a run did: per-episode returns, evaluations, how it ended, timings, files.

    Counters, timings and the solve cover the whole run, a resumed one included; the lists
    (``episode_returns``, ``evals``) hold this call's part (the log has all of it).
    """
    episode_returns: list = field(default_factory=list)
    episode_lengths: list = field(default_factory=list)
    evals: list = field(default_factory=list)       # dicts: step, mean, std, confirm_mean, solved
    steps: int = 0
    episodes: int = 0
    solved: bool = False
    solved_at: int | None = None                    # env steps at the solving check
    reason: str = ""                                # "solved", "budget", "interrupted", "error"
    signal: int | None = None                       # the signal that interrupted the run
    train_wall_s: float = 0.0                       # time in the loop, evaluation excluded
    total_wall_s: float = 0.0                       # everything, evaluation included
    solve_train_wall_s: float | None = None         # train_wall_s up to the solving check
    solve_total_wall_s: float | None = None         # total_wall_s up to solved (confirmation included)
    best_eval: float | None = None
    total_steps: int = 0                            # the budget
    out_dir: Path | None = None
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    agent: DDQNAgent | None = None                  # the trained agent


class StepInfo(NamedTuple):
    """What a training callback is given after every env step."""
    step: int                         # env steps so far
    episodes: int                     # episodes finished so far
    episode_return: float | None      # the return of the episode that ended at this step, else None
    metrics: dict | None              # this step's update metrics (loss, q_mean, ...), None if no update
    last_metrics: dict | None         # the latest update's metrics
    epsilon: float                    # the exploration rate
    last_eval: float | None           # the latest greedy evaluation's mean return


SAVED_HISTORY = ("episodes", "best_eval", "solved", "solved_at", "train_wall_s", "total_wall_s",
                 "solve_train_wall_s", "solve_total_wall_s")
"""History fields a checkpoint carries, so that a resumed run's summary covers the whole run."""


def checkpoint_state(config, agent, loop):
    """What a checkpoint holds: the config, the env's id and spaces, the agent, the loop's counters."""
    return {"config": config.to_dict(), "env_id": config.env_id, "obs_dim": agent.obs_dim,
            "obs_shape": list(agent.obs_shape), "obs_dtype": agent.obs_dtype,
            "n_actions": agent.n_actions, "agent": agent.state_dict(include_replay=config.save_replay),
            "loop": loop}


EVAL_COPIES = 25
"""Evaluation episodes played together at most (copies of the evaluation env)."""


def resumed_config(config, resume, carry):
    """``(config, checkpoint state or None, loop counters)``: with ``resume``, the checkpoint's config with
    only the ``RESUME_FIELDS`` of ``config`` changed; else ``config`` (``Config()`` if None) and ``carry``."""
    if resume is None:
        return config or Config(), None, dict(carry or {})
    saved = DDQNAgent.read_checkpoint(resume)
    changes = {} if config is None else {f: getattr(config, f) for f in RESUME_FIELDS}
    return DDQNAgent.config_from_state(saved, resume).replace(**changes), saved, saved.get("loop", {})


def blas_threads(n):
    """A context limiting BLAS to ``n`` threads (threadpoolctl), or ``None`` (n = 0 or no threadpoolctl)."""
    if n == 0:
        return None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                     # an optional extra: without it NumPy keeps its default
        return None
    return threadpool_limits(limits=n, user_api="blas")


class Run:
    """One training run: set up in the constructor, used as a context manager around the loop.

    Args: as ``run.loop.train``; ``carry`` continues the counters of an earlier run of the same agent
    in this process (a ``History``'s ``SAVED_HISTORY`` fields as a dict, the model API's second
    ``learn``). Raises ``EnvError``, ``ConfigError`` or ``CheckpointError`` from the set-up before
    anything is written to ``out_dir``.
    """

    def __init__(self, config=None, env=None, out_dir=None, resume=None, eval_env=None, agent=None,
                 callback=None, carry=None, action_mask_fn=None):
        config, saved, self.saved_loop = resumed_config(config, resume, carry)
        self.mask_fn, self.read_mask = action_mask_fn, None   # action masks: the source, found at the first reset
        self.mask = None                                  # legal actions at the current obs: (A,) / (N, A) bool, or None
        self.resume = resume
        self.callback = as_callback(callback)
        config, spaces = self._open_envs(config, env, eval_env)
        self.config = config
        named = self.made_env or self.env.spec is not None   # an instance without a spec: named by its class
        self.env_id = config.env_id if named else type(self.env.unwrapped).__name__
        self.agent = self._make_agent(saved, agent, spaces)
        self._start_history(out_dir)
        self._open_folder()                               # from here on the folder is this run's
        self._announce()

    def _open_envs(self, config, env, eval_env):
        """Make (or take) the training and evaluation envs and check their spaces; ``(config, (obs_dim,
        n_actions))``, the config naming the env instance and vector size passed in."""
        from .envs import (
            check_spaces,
            check_vector_size,
            env_copies,
            env_from_config,
            env_name,
            is_vector,
            vector_env_from_config,
        )
        self.made_env = env is None
        if self.made_env:
            check_vector_size(config)
            env = vector_env_from_config(config) if config.num_envs > 1 else env_from_config(config)
        elif is_vector(env) and env.num_envs != config.num_envs:
            config = config.replace(num_envs=env.num_envs)   # a vector env passed in counts itself
        spaces = check_spaces(env)
        spec_id = getattr(env.spec, "id", None)
        if spec_id is not None and spec_id != env_name(config.env_id):
            config = config.replace(env_id=spec_id)      # an env instance passed in names itself
        # evaluation copies (a second instance, same kwargs; more are made for batched evaluation),
        # unless an eval_env was given: it plays its episodes alone
        self.make_eval_copy = None if eval_env is not None else (
            (lambda: env_from_config(config)) if self.made_env else (lambda: env_copies(env, 1)[0]))
        self._eval_envs = []
        if config.eval_interval > 0:
            if eval_env is None:
                eval_env = self.make_eval_copy()
            eval_spaces = check_spaces(eval_env)
            if eval_spaces != spaces:
                raise EnvError(f"eval_env has {eval_spaces} (observations, actions); the training env "
                               f"has {spaces}")
        self.env, self.eval_env = env, eval_env
        self.num_envs, self.vector = config.num_envs, is_vector(env)
        self.threshold = getattr(env.spec, "reward_threshold", None) or getattr(
            getattr(eval_env, "spec", None), "reward_threshold", None)
        return config, spaces

    def _make_agent(self, saved, agent, spaces):
        """The agent: the checkpoint's (``--resume``), the one passed in, or a new one; fixes how
        observations are checked (the replay's dtype)."""
        from .envs import env_name, observation_storage
        config = self.config
        if saved is not None:
            if env_name(str(saved.get("env_id", ""))) != env_name(config.env_id):
                raise CheckpointError(f"{self.resume} was trained on {saved.get('env_id')}, not {config.env_id}")
            agent = DDQNAgent.from_state(saved, *spaces, source=self.resume, config=config)
        agent = agent or DDQNAgent(*spaces, config, observation_storage(self.env))
        self.obs_shape = agent.obs_shape                  # (obs_dim,), or (H, W, C) for images
        self.obs_dtype = np.dtype(config.dtype if agent.obs_dtype is None else agent.obs_dtype)   # as stored
        self.exact_obs = self.obs_dtype.kind in "bu"      # bits / bytes: a cast could change the values
        return agent

    def _start_history(self, out_dir):
        """The run's ``History`` (counters carried from a checkpoint or an earlier call), episode counters,
        the clock."""
        h = self.history = History(out_dir=None if out_dir is None else Path(out_dir),
                                   total_steps=self.config.total_steps, agent=self.agent)
        for name in SAVED_HISTORY:
            if self.saved_loop.get(name) is not None:
                setattr(h, name, self.saved_loop[name])
        self.recent = deque(maxlen=20)                    # returns of the last 20 episodes
        self.last_eval = h.best_eval
        self.episode_return = [0.0] * self.num_envs       # the running episode of each env
        self.episode_length = [0] * self.num_envs
        self.in_episode = False
        self.last_saved_at = None                         # env step of the newest last.npz
        self.stop = StopOnSignal("stopping after this step (last.npz is saved); Ctrl-C again to stop now"
                                 if self.config.progress_interval > 0 else None)   # silent runs (sweep trials) stay so
        self.stopped_by_callback = False
        self.first_obs = None
        # the clock goes on from the checkpoint's: the summary times the whole run
        self.eval_time = h.total_wall_s - h.train_wall_s  # seconds spent evaluating (not training)
        self.t_start = time.perf_counter() - h.total_wall_s

    def _open_folder(self):
        """Lock the run folder (a second run into it is refused), cut a resumed log back to the checkpoint's
        step, open the log and its sinks."""
        config, out_dir = self.config, self.history.out_dir
        # the folder is this run's alone from here on (two runs into one folder: the second is refused)
        if self.resume is None and self.agent.steps == 0 and out_dir is not None and (out_dir / LOG_NAME).exists():
            raise ConfigError(f"{out_dir} already holds a run; choose another out_dir, or continue it with "
                              f"resume={str(out_dir / LAST)!r}")
        self.lock = None if out_dir is None else RunLock(out_dir).acquire()
        try:
            self.discarded = 0                            # log rows past the checkpoint (a killed run's)
            resume = None if self.resume is None else Path(self.resume).resolve()   # cut only its own run's log
            if out_dir is not None and resume is not None and resume.parent == out_dir.resolve():
                self.discarded = cut_log(out_dir, self.agent.steps)
            sinks = []
            if config.tensorboard:                        # one subfolder per run, as SB3 does
                from .tensorboard import TensorBoardSink
                sinks.append(TensorBoardSink(Path(config.tensorboard) / (out_dir.name if out_dir else "run")))
            self.log = RunLog(out_dir, config, sinks)
        except BaseException:
            self._unlock()
            raise
        self.diagnostics = Diagnostics(self.agent.steps, self.eval_time)

    def _announce(self):
        """The start line and the warnings (gamma = 1, observations that look wrong)."""
        from .envs import observation_warnings
        config, agent, h = self.config, self.agent, self.history
        self.progress = Progress(config.total_steps, config.progress_interval, start_steps=agent.steps,
                                 elapsed=h.total_wall_s, eval_time=self.eval_time)
        self.progress.print(start_line(config, h.out_dir, preset_name(config.env_id), resumed_at=(
            agent.steps if self.resume is not None else None), memory=agent.memory.describe()))
        if config.gamma == 1.0:
            self.progress.print(f"numpy-ddqn: warning: gamma = 1 does not discount: unless {self.env_id}'s "
                                f"episodes terminate, Q can grow without bound (time-limit truncations "
                                f"bootstrap)")
        for warning in observation_warnings(self.env):
            self.progress.print(f"numpy-ddqn: warning: {warning}")

    # -- the context: signals, threads, failures ------------------------------------------------

    def __enter__(self):
        self._threads = blas_threads(self.config.threads)
        self.stop.__enter__()                             # before the first reset: a hung reset can be stopped
        try:
            self._begin()
        except BaseException:
            self.stop.__exit__()
            self._threads is not None and self._threads.unregister()
            self.log.close()
            self._unlock()
            raise
        return self

    def _begin(self):
        """The first (seeded) reset of a new run and the log's ``start``, ``continue`` or ``resume`` event."""
        config, agent = self.config, self.agent
        if self.resume is None and agent.steps == 0:
            self.first_obs = self.reset_env(seed=config.seed)   # the only seeded reset; later ones continue its RNG
            self.env.action_space.seed(config.seed)
            self.log.write("event", event="start", step=0, env_id=self.env_id, seed=config.seed,
                           threshold=self.threshold, preset=preset_name(self.env_id), threads=config.threads)
        elif self.resume is None:                         # the same agent trained on: a fresh episode
            agent.drop_pending()                          # so no n-step window spans two episodes
            self.log.write("event", event="continue", step=agent.steps)
        else:                                             # resume on an episode boundary
            agent.drop_pending()                          # (empty unless saved mid-episode)
            rng = env_rng(self.env)                       # the env's own generator: looked up, never kept
            if self.saved_loop.get("env_rng") is not None and rng is not None:
                set_rng_state(rng, self.saved_loop["env_rng"])
            self.log.write("event", event="resume", step=agent.steps, checkpoint=str(self.resume),
                           exact=not self.saved_loop.get("mid_episode", True) and self.agent.replay.size > 0,
                           **({"discarded_rows": self.discarded} if self.discarded else {}))

    def __exit__(self, kind, error, tb):
        try:
            return self._exit(kind, error)
        finally:
            self._unlock()

    def _exit(self, kind, error):
        self.stop.__exit__()
        if self._threads is not None:
            self._threads.unregister()
        h = self.history
        if kind is None or issubclass(kind, StopNow):    # a forced stop lands only where the agent is whole
            h.signal = self.stop.signum
            h.reason = ("interrupted" if h.signal is not None else "callback" if self.stopped_by_callback else
                        "solved" if h.solved and self.config.stop_when_solved else "budget")
            if kind is not None and self.made_env and self.vector:
                with warnings.catch_warnings():           # gymnasium warns that a step was pending
                    warnings.simplefilter("ignore")
                    self.env.close(terminate=True)        # a hung worker is not waited for
            self.finish(forced=kind is not None)
            return kind is not None
        if issubclass(kind, DivergenceError):             # keep the last good checkpoint, not the NaNs
            self.log.write("event", event="diverged", step=self.agent.steps, message=str(error))
            self.log.close()
            kept = f"; the last good checkpoint is {h.last_checkpoint}" if h.last_checkpoint else ""
            raise DivergenceError(f"{error}{kept}") from None
        if issubclass(kind, Exception):                   # save the run as it stands, and say why it stopped
            h.reason = "error"
            message = f"{type(error).__name__}: {error}" if not isinstance(error, NumpyDDQNError) else str(error)
            saved = ""
            try:
                self.finish(message)
                if h.last_checkpoint is not None:
                    saved = (f"; saved at that step: resume with numpy-ddqn train --resume {h.last_checkpoint}"
                             f" --steps {self.config.total_steps}")
            except Exception as e:                        # the disk may be what failed
                saved = f"; the state could not be saved ({type(e).__name__}: {e})"
            if isinstance(error, NumpyDDQNError):
                raise type(error)(f"{error}{saved}") from error
            raise TrainingError(f"training stopped at env step {self.agent.steps} by an unexpected "
                                f"{message}{saved}") from error
        self.log.close()                                  # KeyboardInterrupt outside the guard, SystemExit
        return False

    def _unlock(self):
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    @property
    def stop_requested(self):
        """True once SIGINT or SIGTERM arrived."""
        return self.stop.signum is not None

    def _env_call(self, method, *args, **kwargs):
        """``method(*args, **kwargs)`` (an env's ``reset`` or ``step``) where a second signal may stop the run
        at once: the agent is between two steps."""
        stop = self.stop
        stop.interruptible = True
        try:
            stop.check()
            return method(*args, **kwargs)
        finally:
            stop.interruptible = False

    # -- the env, checked ---------------------------------------------------------------------

    def reset_env(self, seed=None):
        """Start an episode (in every env of a vector env); return the first observation(s), checked like
        ``step_env``'s."""
        step = self.agent.steps
        try:
            obs, info = self._env_call(self.env.reset, seed=seed)
        except Exception as e:
            raise EnvError(f"{self.env_id}.reset() raised at env step {step}: {type(e).__name__}: {e}") from e
        if self.config.action_masks:
            self._read_masks(info, step)
        self.episode_return, self.episode_length = [0.0] * self.num_envs, [0] * self.num_envs
        self.in_episode = True
        if self.vector:
            return self._check_obs(obs, step, "reset observation", (self.num_envs, *self.obs_shape))
        return self._check_obs(obs, step, "reset observation")

    def step_env(self, action):
        """``env.step(action)`` checked: an observation of the space's shape, finite in the replay's
        dtype, and a scalar finite reward; returns ``(next_obs, reward, terminated, truncated)``."""
        step, stop = self.agent.steps + 1, self.stop
        stop.interruptible = True                         # (_env_call inlined: this is every step)
        try:
            if stop.forced:
                raise StopNow(stop.signum)
            obs, reward, terminated, truncated, info = self.env.step(action)
        except Exception as e:
            raise EnvError(f"{self.env_id}.step() raised at env step {step}: {type(e).__name__}: {e}") from e
        finally:
            stop.interruptible = False
        obs = self._check_obs(obs, step, "observation")
        if self.mask is not None:                         # action masks on: the legal actions at the new obs
            self._read_masks(info, step, terminated)
        if type(reward) is not float:                     # a size-1 array or NumPy scalar is taken as a float
            reward = self._scalar_reward(reward, step)
        if not math.isfinite(reward):
            raise EnvError(f"{self.env_id} returned a non-finite reward at env step {step}: {reward!r}; "
                           f"the environment is broken or needs its inputs clipped")
        return obs, reward, bool(terminated), bool(truncated)

    def step_envs(self, actions):
        """``step_env`` for a vector env: ``(next_obs (N, obs_dim), rewards (N,), terminated (N,), truncated (N,))``.

        With next-step autoreset, ``next_obs`` of an env whose episode ends here is its real final
        observation; the next call resets that env (the action is ignored, nothing is to be stored).
        """
        step, stop = self.agent.steps + 1, self.stop
        stop.interruptible = True
        try:
            if stop.forced:
                raise StopNow(stop.signum)
            obs, rewards, terminated, truncated, info = self.env.step(actions)
        except Exception as e:
            raise EnvError(f"{self.env_id}.step() raised at env step {step}: {type(e).__name__}: {e}") from e
        finally:
            stop.interruptible = False
        obs = self._check_obs(obs, step, "observation", (self.num_envs, *self.obs_shape))
        if self.mask is not None:                         # (N, A): a reset env's is its new episode's first state's
            self._read_masks(info, step, terminated)
        rewards = np.asarray(rewards, dtype=np.float64)
        if rewards.shape != (self.num_envs,) or not np.all(np.isfinite(rewards)):
            raise EnvError(f"{self.env_id} returned rewards {rewards!r} at env step {step}; expected "
                           f"{self.num_envs} finite numbers")
        return obs, rewards, np.asarray(terminated, bool), np.asarray(truncated, bool)

    def _read_masks(self, info, step, terminated=False):
        """``self.mask``: the legal actions at the obs just returned ((A,), or (N, A) for a vector env), from the
        source found at the first reset (``action_masks.mask_source``), checked (``EnvError`` with the step)."""
        if self.read_mask is None:
            self.read_mask = mask_source(self.env, info, self.env_id, self.mask_fn, self.vector)
        try:
            mask = self.read_mask(self.env, info)
        except EnvError:
            raise
        except Exception as e:
            raise EnvError(f"reading {self.env_id}'s action mask at env step {step} raised {type(e).__name__}: "
                           f"{e}") from e
        self.mask = check_env_mask(mask, self.agent.n_actions, self.env_id, step, terminated)

    def eval_mask(self, env, info, terminated=False):
        """The legal actions of an evaluation env's current state ((A,) bool), from its own source."""
        return env_mask(env, info, self.env_id, self.agent.n_actions, self.mask_fn, self.agent.steps, terminated)

    def _check_obs(self, obs, step, what, shape=None):
        x = np.asarray(obs, dtype=self.obs_dtype)         # as the replay stores it
        if x.shape != (shape or self.obs_shape):
            raise EnvError(f"{self.env_id} returned an {what} of shape {np.shape(obs)} at env step {step}; "
                           f"its observation space says {self.obs_shape}")
        if self.exact_obs and x is not obs and not (x == obs).all():   # a cast to bits / bytes changed values
            self._refuse_cast(obs, x, step, what)
        if not math.isfinite(float(np.add.reduce(x, axis=None))) and not np.all(np.isfinite(x)):   # cheap guard first
            raise EnvError(f"{self.env_id} returned a non-finite {what} at env step {step} "
                           f"(in {self.obs_dtype}): {obs!r}; the environment is broken, or its values "
                           f"overflow {self.obs_dtype} and need scaling")
        return x

    def _refuse_cast(self, obs, x, step, what):
        raw = np.asarray(obs)
        value = raw.reshape(-1)[np.flatnonzero(x.reshape(-1) != raw.reshape(-1))[0]]
        raise EnvError(f"{self.env_id} returned an {what} holding {value.item()!r} at env step {step}, which its "
                       f"observation space's dtype {self.obs_dtype} cannot hold (it would be stored as "
                       f"{value.astype(self.obs_dtype).item()!r}); fix the env's values or declare a wider dtype")

    def _scalar_reward(self, reward, step):
        if isinstance(reward, (int, np.integer, np.floating)):    # bool is an int
            return float(reward)
        value = None if reward is None else np.asarray(reward)
        if value is None or value.size != 1 or value.dtype.kind not in "biuf":
            raise EnvError(f"{self.env_id} returned a reward that is not a number at env step {step}: "
                           f"{reward!r}; step() must return a scalar reward")
        return float(value.reshape(()))

    # -- after every step -----------------------------------------------------------------------

    def record_step(self, reward, terminated, truncated, metrics, env_index=0):
        """Episode bookkeeping, diagnostics, evaluation and progress after one transition (of env
        ``env_index`` of a vector env); True when the run should stop."""
        config, steps, h = self.config, self.agent.steps, self.history
        self.episode_return[env_index] += reward
        self.episode_length[env_index] += 1
        if terminated or truncated:
            self.end_episode(terminated, env_index)
        self.diagnostics.add(metrics)
        if steps % config.log_interval == 0:
            a = self.agent
            self.diagnostics.write(self.log, steps, a.updates, a.epsilon, a.optimizer.lr, a.weight_norms(),
                                   self.eval_time)
        stop = False                                      # solved (and config.stop_when_solved), or a signal
        if config.eval_interval and steps % config.eval_interval == 0:
            check = self.evaluate()
            stop = check.stopped or (check.solved and config.stop_when_solved)
        if steps % 128 == 0 and self.progress.due():
            self.progress.show(steps, h.episodes, sum(self.recent) / len(self.recent) if self.recent else None,
                               self.agent.epsilon, self.diagnostics.last_loss, self.last_eval, self.eval_time)
        if self.callback is not None:                     # called at the solving step too
            ended = terminated or truncated
            info = StepInfo(steps, h.episodes, self.recent[-1] if ended else None, metrics,
                            self.diagnostics.last_metrics, self.agent.epsilon, self.last_eval)
            if self.callback(info) is False:
                self.stopped_by_callback = not stop
                return True
        return stop

    def end_episode(self, terminated, env_index=0):
        """Count the episode (of env ``env_index``) and log its return and length."""
        h = self.history
        ret, length = self.episode_return[env_index], self.episode_length[env_index]
        self.episode_return[env_index], self.episode_length[env_index] = 0.0, 0
        h.episodes += 1
        self.recent.append(ret)
        h.episode_returns.append(ret)
        h.episode_lengths.append(length)
        self.log.write("episode", step=self.agent.steps, episode=h.episodes, ret=ret, length=length,
                       epsilon=self.agent.epsilon, terminated=bool(terminated),
                       **({"env": int(env_index)} if self.vector else {}))
        self.in_episode = self.vector                     # the other envs of a vector env play on

    def eval_envs(self, n):
        """The evaluation env and up to ``n - 1`` copies of it (made once), to play episodes together."""
        if not self._eval_envs:
            self._eval_envs.append(self.eval_env)
        while self.make_eval_copy is not None and len(self._eval_envs) < min(n, EVAL_COPIES):
            self._eval_envs.append(self.make_eval_copy())
        return self._eval_envs

    def evaluate(self):
        """Greedy evaluation (and the solve check), logged; checkpoints ``last`` and, if better, ``best``.

        Between steps it checks for a stop request: a stopped evaluation is neither logged nor counted.
        """
        h, config = self.history, self.config
        t_eval = time.perf_counter()
        confirm = lambda mean: self.progress.print(
            f"evaluation at step {self.agent.steps:,}: mean {mean:.1f} >= {self.threshold:g}; confirming on "
            f"{config.confirm_episodes} more episodes")
        greedy = ((lambda x: self.agent.online(x).argmax(axis=1)) if not config.action_masks else   # (R, ...) -> (R,)
                  (lambda x, masks: masked_argmax(self.agent.online(x), masks)))                  # over legal actions
        check = self._env_call(solve_check, greedy, self.eval_envs(max(config.eval_episodes, config.confirm_episodes)),
                               self.threshold, config.eval_episodes, config.confirm_episodes, config.eval_max_steps,
                               lambda: self.stop_requested, confirm,
                               self.eval_mask if config.action_masks else None)
        if check.stopped:
            self.eval_time += time.perf_counter() - t_eval
            return check
        if check.cut:
            self.progress.warn(f"numpy-ddqn: warning: {check.cut} evaluation episode(s) at step {self.agent.steps:,} "
                                f"were cut at eval_max_steps = {config.eval_max_steps:,} steps")
        self.progress.evaluated(check.mean, check.confirm_mean)
        row = {"step": self.agent.steps, "mean": check.mean, "std": check.std,
               "confirm_mean": check.confirm_mean, "solved": check.solved,
               **({"cut": check.cut} if check.cut else {})}
        h.evals.append(row)
        self.log.write("eval", **row)
        self.last_eval = check.mean
        improved = h.best_eval is None or check.mean > h.best_eval
        if improved:
            h.best_eval = check.mean
        if check.solved and not h.solved:
            h.solved, h.solved_at = True, self.agent.steps
            h.solve_train_wall_s = t_eval - self.t_start - self.eval_time
            h.solve_total_wall_s = time.perf_counter() - self.t_start
        self.eval_time += time.perf_counter() - t_eval
        self.save(LAST)
        if improved:
            self.save(BEST)
        return check

    # -- files ----------------------------------------------------------------------------------

    def save(self, name):
        """Write checkpoint ``name`` (``last.npz`` / ``best.npz``) into the run folder; its path or None."""
        h = self.history
        if h.out_dir is None:
            return None
        self._clock()
        rng = env_rng(self.env)                           # reset(seed=...) replaces the generator
        path = save_checkpoint(h.out_dir / name, checkpoint_state(
            self.config, self.agent, {**{k: getattr(h, k) for k in SAVED_HISTORY}, "mid_episode": self.in_episode,
                                      "env_rng": None if rng is None else rng_state(rng)}))
        if name == LAST:
            self.last_saved_at, h.last_checkpoint = self.agent.steps, path
        else:
            h.best_checkpoint = path
        return path

    def _clock(self):
        h = self.history
        h.total_wall_s = time.perf_counter() - self.t_start
        h.train_wall_s = h.total_wall_s - self.eval_time

    def finish(self, error=None, forced=False):
        """Save ``last.npz`` (unless this step's evaluation did), log the stop and the summary."""
        h = self.history
        h.steps = self.agent.steps
        try:
            if self.last_saved_at != h.steps:
                self.save(LAST)
            self._clock()
        finally:
            self.log.write("event", event="stop", step=h.steps, reason=h.reason, signal=h.signal,
                           **({"error": error} if error else {}), **({"forced": True} if forced else {}))
            self.log.write("summary", **summary_fields(h))
            self.log.close()

