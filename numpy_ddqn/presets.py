"""Presets, the one home of them all: per-env hyperparameters (``PRESETS``, which ``Config.for_env`` applies) and
named configurations one flag away (``NAMED_PRESETS``: ``numpy-ddqn train --preset tanh-sgd``).

Plain dicts of ``Config`` field overrides; this module imports nothing, so ``config.py`` can read it.
"""

from __future__ import annotations

NAMED_PRESETS = {
    "default": {},
    # the seed design's network and optimizer: tanh layers trained by plain SGD (momentum 0), with LayerNorm before
    # each tanh and step size 0.1, chosen on CartPole-v1 seeds 0..29 over the 0.2 preset (lr 3e-2, no LayerNorm);
    # held-out seeds 100..129 in bench/DEFAULTS.md, with one update per env step (written out: the default now
    # makes two)
    "tanh-sgd": dict(activation="tanh", optimizer="sgd", momentum=0.0, learning_rate=0.1, train_freq=1,
                     gradient_steps=1, layer_norm=True),
    # Rainbow (Hessel et al. 2018): Double selection, dueling per atom, prioritized replay on the cross-entropy,
    # 3-step returns, noisy layers (epsilon-greedy off), C51 with 51 atoms on Rainbow's [-10, 10] (set v_min / v_max to the env's
    # return range: on CartPole-v1, gamma = 0.99, returns reach 100; see bench/FAMILY.md); Munchausen's targets
    # off: the Acrobot-v1, MountainCar-v0 and LunarLander-v3 presets have them, and they are for Q-values only
    "rainbow": dict(double=True, dueling=True, prioritized=True, n_step=3, distribution="categorical", n_atoms=51,
                    v_min=-10.0, v_max=10.0, noisy=True, munchausen=False),
    # Munchausen DQN with the paper's settings (alpha 0.9, tau 0.03, l0 -1; bench/MASKS.md for CartPole-v1)
    "munchausen": dict(munchausen=True, m_alpha=0.9, m_tau=0.03, m_l0=-1.0),
}
"""Preset name -> config field overrides."""


def preset_name(env_id: str) -> str | None:
    """The key of ``PRESETS`` that applies to ``env_id``, or ``None``.

    Gymnasium's ``module:EnvName-v0`` form uses the preset of ``EnvName-v0``.
    """
    name = env_id.rsplit(":", 1)[-1]
    return name if name in PRESETS else None


PRESETS = {
    "CartPole-v1": {},
    # 5-step returns (one-step solved 1/5 seeds within 20,000 steps, bench/ABLATION.md) and Munchausen's targets
    # with the paper's settings (chosen on seeds 0..9 against LayerNorm and a shorter epsilon schedule, reported
    # on held-out seeds 100..109 in bench/PRESETS.md); the target synced every 100 steps (rl-zoo's 250 before:
    # chosen on seeds 0..9 and 100..109, reported on held-out seeds 200..209, bench/PRESETS.md)
    "Acrobot-v1": dict(**NAMED_PRESETS["munchausen"], total_steps=100_000, learning_rate=6.3e-4, buffer_size=50_000,
                       batch_size=128, learning_starts=1_000, gamma=0.99, target_update_interval=100, train_freq=4,
                       gradient_steps=4, exploration_steps=12_000, epsilon_end=0.1,
                       hidden_sizes=(256, 256), activation="relu"),
    # 5-step returns (one-step solved 0/5 seeds within 60,000 steps, bench/ABLATION.md) and Munchausen's targets
    # with the paper's settings (chosen on seeds 0..9, reported on held-out seeds 100..109 in bench/PRESETS.md)
    "MountainCar-v0": dict(**NAMED_PRESETS["munchausen"], total_steps=120_000, learning_rate=4e-3, buffer_size=10_000,
                           batch_size=128, learning_starts=1_000, gamma=0.98, target_update_interval=600, train_freq=16,
                           gradient_steps=8, exploration_steps=24_000, epsilon_end=0.07,
                           hidden_sizes=(256, 256), activation="relu"),
    # rl-zoo's DQN hyperparameters with 3-step returns (bench/ABLATION.md) and Munchausen's targets with the
    # paper's settings (chosen on seeds 0..4, reported on held-out seeds 100..109 in bench/PRESETS.md);
    # evaluations every 5,000 steps (its episodes are long)
    "LunarLander-v3": dict(**NAMED_PRESETS["munchausen"], n_step=3, total_steps=150_000, learning_rate=6.3e-4,
                           buffer_size=50_000, batch_size=128, learning_starts=1_000, gamma=0.99,
                           target_update_interval=250, train_freq=4, gradient_steps=4, exploration_steps=12_000,
                           epsilon_end=0.1, hidden_sizes=(256, 256), activation="relu", eval_interval=5_000),
}

# MinAtar (pip install ".[minatar]"): the reference agent of Young & Tian (2019) where it fits: one conv of
# 16 3x3 filters, ReLU, 128 units, batch 32, replay 100,000, target sync every 1,000 frames, one update per
# frame after 5,000, epsilon 1 -> 0.1 over 100,000 frames, 500,000 frames (bench/PIXELS.md)
MINATAR = dict(layers="conv16x3,relu,flatten,dense128,relu", total_steps=500_000, batch_size=32,
               buffer_size=100_000, learning_starts=5_000, train_freq=1, gradient_steps=1,
               target_update_interval=1_000, epsilon_start=1.0, epsilon_end=0.1, exploration_steps=100_000,
               gamma=0.99, optimizer="adam", learning_rate=2.5e-4, adam_eps=1.5e-4, n_step=3,
               eval_interval=25_000, eval_episodes=10)
for _game in ("Breakout", "SpaceInvaders"):
    for _version in ("v0", "v1"):
        PRESETS[f"MinAtar/{_game}-{_version}"] = dict(MINATAR)
"""Per-env hyperparameters (Acrobot, MountainCar and LunarLander follow rl-zoo's tuned DQN, with the n-step
returns measured to help: 5 steps for Acrobot and MountainCar, 3 for LunarLander; all three take Munchausen's
targets, bench/PRESETS.md; MinAtar follows its reference agent, above)."""
