"""Policies of every network kind the project trains, built directly (random weights), for the export tests."""
import numpy as np

from numpy_ddqn.policy import Policy


def dense_weights(rng, sizes, dtype=np.float32):
    """``[W0, b0, ...]`` for widths ``sizes``, scaled so activations stay O(1)."""
    weights = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weights += [(rng.normal(size=(n_in, n_out)) / np.sqrt(n_in)).astype(dtype),
                    (0.1 * rng.normal(size=n_out)).astype(dtype)]
    return weights


def conv_weights(rng, shapes, dtype=np.float32):
    """``[W, b, ...]`` for conv ``(kh, kw, C, F)`` and dense ``(n_in, n_out)`` weight shapes."""
    weights = []
    for shape in shapes:
        weights += [(rng.normal(size=shape) / np.sqrt(np.prod(shape[:-1]))).astype(dtype),
                    (0.1 * rng.normal(size=shape[-1])).astype(dtype)]
    return weights


def policies(seed=0):
    """name -> Policy: MLPs (tanh, relu, identity), dueling, float64, conv nets (MinAtar's, strided 'same',
    dueling), distributional heads (categorical, quantile, dueling per atom), LayerNorm in an MLP's and a conv
    net's layer list, a noisy MLP's exported means, implicit quantile networks (IQN)."""
    rng = np.random.default_rng(seed)
    return {
        "mlp-tanh": Policy(dense_weights(rng, (4, 64, 64, 2)), "tanh", "CartPole-v1"),
        "mlp-relu": Policy(dense_weights(rng, (6, 32, 16, 3)), "relu", "Acrobot-v1"),
        "mlp-identity": Policy(dense_weights(rng, (5, 7, 4)), "identity", "custom"),
        "dueling-tanh": Policy(dense_weights(rng, (8, 24, 24, 5)), "tanh", "LunarLander-v3", "dueling"),
        "mlp-float64": Policy(dense_weights(rng, (4, 16, 2), np.float64), "tanh", "CartPole-v1"),
        "conv-minatar": Policy(conv_weights(rng, [(3, 3, 4, 16), (8 * 8 * 16, 32), (32, 3)]), "tanh",
                               "MinAtar/Breakout-v1", layers="conv16x3,relu,flatten,dense32,relu", obs_shape=(10, 10, 4)),
        "conv-strided-dueling": Policy(conv_weights(rng, [(3, 3, 2, 4), (4, 4, 4, 6), (4 * 4 * 6, 4)]), "relu",
                                       "custom", "dueling", layers="conv4x3same,tanh,conv6x4s2same,relu,flatten,identity",
                                       obs_shape=(7, 8, 2)),
        # distributional heads (Q = the distribution's mean): C51 and QR-DQN, dueling per atom, on an MLP and layers
        "categorical-relu": Policy(dense_weights(rng, (4, 32, 3 * 11)), "relu", "CartPole-v1", "categorical",
                                   head_params=dict(n_atoms=11, v_min=0.0, v_max=100.0)),
        "categorical-dueling-tanh": Policy(dense_weights(rng, (6, 16, (1 + 3) * 51)), "tanh", "Acrobot-v1",
                                           "categorical_dueling", head_params=dict(n_atoms=51, v_min=-10.0, v_max=10.0)),
        "quantile-tanh": Policy(dense_weights(rng, (4, 24, 2 * 32)), "tanh", "CartPole-v1", "quantile",
                                head_params=dict(n_quantiles=32)),
        "quantile-dueling-conv": Policy(conv_weights(rng, [(3, 3, 2, 4), (8 * 8 * 4, (1 + 3) * 5)]), "relu", "custom",
                                        "quantile_dueling", layers="conv4x3same,relu,flatten", obs_shape=(8, 8, 2),
                                        head_params=dict(n_quantiles=5)),
        "mlp-layernorm": Policy(with_norms(rng, dense_weights(rng, (4, 32, 16, 2)), [32, 16]), "tanh", "CartPole-v1",
                                layers="dense32,layernorm,tanh,dense16,layernorm,relu", obs_shape=(4,)),
        "conv-layernorm-dueling": Policy(with_norms(rng, conv_weights(rng, [(3, 3, 2, 4), (4 * 4 * 4, 8), (8, 4)]), [8],
                                                    after=[1]), "relu", "custom", "dueling",
                                         layers="conv4x3,relu,flatten,dense8,layernorm,relu", obs_shape=(6, 6, 2)),
        "mlp-noisy-mean": Policy(noisy_mean_weights(seed), "tanh", "CartPole-v1"),
        # IQN: the mean embedding of the K fixed taus times the state features (``iqn{K}``), folded for C / ONNX
        "iqn-tanh": implicit_policy(seed, "tanh", "linear", False),
        "iqn-dueling-layernorm-relu": implicit_policy(seed, "relu", "dueling", True),
    }


def implicit_policy(seed, activation, head, layer_norm):
    """The exported policy of an implicit quantile network (``nn/implicit.py``) after a random change of its weights."""
    from numpy_ddqn.nn.implicit import ImplicitQuantileMLP
    net = ImplicitQuantileMLP((4, 24, 16, 3), activation, rng=np.random.default_rng(seed), head=head,
                              layer_norm=layer_norm, n_cos=8, n_policy_taus=5)
    net.flat += 0.1 * np.random.default_rng(seed + 1).normal(size=net.n_params).astype(np.float32)
    weights, layers = net.export_weights()
    return Policy(weights, activation, "CartPole-v1", head, layers, (4,))


def with_norms(rng, weights, widths, after=None):
    """``weights`` with a LayerNorm's (gain, bias) of each width in ``widths`` after the dense pair ``after[k]``
    (default: pairs 0, 1, ...), gains and biases away from 1 and 0."""
    pairs = [weights[i:i + 2] for i in range(0, len(weights), 2)]
    for k, width in reversed(list(zip(after or range(len(widths)), widths))):
        pairs.insert(k + 1, [(1 + 0.3 * rng.normal(size=width)).astype(np.float32),
                             (0.2 * rng.normal(size=width)).astype(np.float32)])
    return [a for pair in pairs for a in pair]


def noisy_mean_weights(seed):
    """The exported weights of a noisy MLP (its means, the noise scales left out) after a random change of both."""
    from numpy_ddqn.nn import MLP
    net = MLP((4, 24, 24, 3), "tanh", rng=np.random.default_rng(seed), noisy=True)
    net.flat += 0.05 * np.random.default_rng(seed + 1).normal(size=net.n_params).astype(np.float32)
    weights, layers = net.export_weights()
    assert layers is None and len(weights) == 6
    return weights


def obs_shape(policy):
    """One observation's shape."""
    return tuple(policy.obs_shape) if policy.layer_list else (policy.obs_dim,)
