"""Named configurations, one flag away: ``numpy-ddqn train --preset tanh-sgd``."""

NAMED_PRESETS = {
    "default": {},
    # the seed design's network and optimizer: tanh layers trained by plain SGD
    "tanh-sgd": dict(activation="tanh", optimizer="sgd", momentum=0.0, learning_rate=1e-2),
}
"""Preset name -> config field overrides."""
