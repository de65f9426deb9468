"""Named configurations, one flag away: ``numpy-ddqn train --preset tanh-sgd``."""

NAMED_PRESETS = {
    "default": {},
    # the seed design's network and optimizer: tanh layers trained by plain SGD
    # (10/10 seeds solve CartPole-v1 per BENCHMARK.md; see bench/bench_solve.py --preset tanh-sgd)
    "tanh-sgd": dict(activation="tanh", optimizer="sgd", momentum=0.0, learning_rate=3e-2, train_freq=1),
}
"""Preset name -> config field overrides."""
