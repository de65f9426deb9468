"""A ``Policy`` read as a flat list of steps with their shapes: what every exporter walks.

The exporters are built from the exported ``Policy`` alone (weights, layer list, activation, head),
never from the training agent, so they follow the same forward pass as ``policy.py``:

    MLP:     dense, act, dense, act, ..., dense (the Q head)
    layers:  conv / dense / act / flatten / layernorm in the listed order, then the dense Q head
             (a layernorm step's W and b are its gain and bias, (H,) each; eps = policy.LAYER_NORM_EPS)
    dueling: the head gives 1 + A outputs (V, then A); Q = V + (A - mean_a A)
    distributional (``head_layout``): the head gives (A or 1 + A) rows of N atoms / quantiles, dueling per atom;
                 Q = sum_i softmax_i z_i (categorical) or mean_i theta_i (quantile) per action
    IQN (``iqn{K}`` last in the layer list): the plain network it equals (``fold_implicit``), the mean embedding
                 folded into the output layer's weights
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..policy import Policy, implicit_embedding, parse_layers


class Step(NamedTuple):
    """One step of the forward pass; ``in_shape`` / ``out_shape`` are per observation (NHWC for images)."""
    kind: str                         # "dense", "conv", "flatten", "layernorm" or an activation name
    in_shape: tuple
    out_shape: tuple
    W: np.ndarray | None = None       # dense: (n_in, n_out); conv: (kh, kw, C_in, C_out)
    b: np.ndarray | None = None       # (n_out,)
    stride: int = 1                   # conv
    pads: tuple = (0, 0, 0, 0)        # conv: (top, left, bottom, right) zeros, as policy.conv2d pads


def conv_geometry(in_hw, kernel, stride, padding):
    """``((Ho, Wo), (top, left, bottom, right))`` of a convolution, as ``policy.conv2d`` computes them."""
    if padding == "same":                          # out = ceil(in / s), the extra padding after (TensorFlow's)
        totals = [max((-(-n // stride) - 1) * stride + k - n, 0) for n, k in zip(in_hw, kernel)]
    else:
        totals = [0, 0]
    out = tuple((n + t - k) // stride + 1 for n, t, k in zip(in_hw, totals, kernel))
    return out, (totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2, totals[1] - totals[1] // 2)


def fold_implicit(policy: Policy) -> Policy:
    """An IQN policy as the plain network it equals; any other policy as it is.

    ``policy.py`` computes Q = head((psi(s) * m) @ W + b) with m = mean_k phi(tau_k) over the K fixed taus (``iqn{K}``,
    the last op of the list), which is head(psi(s) @ (m[:, None] * W) + b): the layers before ``iqn{K}`` with the
    output layer's W scaled row by row. The two differ by float32 rounding only (one product per weight), inside the
    parity bound's margin. ``ValueError`` if ``iqn{K}`` is not the last op (a nonlinearity after it would not fold).
    """
    tokens = policy.layer_list.split(",") if policy.layer_list else []
    if not any(t.startswith("iqn") for t in tokens):
        return policy
    if not tokens[-1].startswith("iqn") or sum(t.startswith("iqn") for t in tokens) != 1:
        raise ValueError(f"layers {policy.layer_list!r}: an iqn op folds into the output layer only as the last op")
    weights = policy.weights()
    (cos_W, cos_b), (W, b) = weights[-4:-2], weights[-2:]
    m = implicit_embedding(parse_layers(tokens[-1])[0][1], cos_W, cos_b).mean(axis=0)   # (H,), as policy.py's
    return Policy([*weights[:-4], (m[:, np.newaxis] * W).astype(W.dtype), b], policy.activation, policy.env_id,
                  policy.head, ",".join(tokens[:-1]), policy.obs_shape, policy.step, policy.obs_dtype,
                  policy.head_params)


def steps(policy: Policy) -> list[Step]:
    """The forward pass of ``policy`` as ``Step``s, the Q head last (its width is A, or 1 + A when dueling); an IQN
    policy's as ``fold_implicit`` gives it."""
    policy = fold_implicit(policy)
    weights = iter(policy.layers)
    out: list[Step] = []
    shape = tuple(policy.obs_shape) if policy.layer_list else (policy.obs_dim,)

    def dense():
        nonlocal shape
        W, b = next(weights)
        if len(shape) > 1:                         # flatten implied before a dense layer (NHWC order)
            out.append(Step("flatten", shape, (int(np.prod(shape)),)))
            shape = out[-1].out_shape
        out.append(Step("dense", shape, (W.shape[1],), W, b))
        shape = (W.shape[1],)

    if policy.layer_list:
        for op in parse_layers(policy.layer_list):
            if op[0] == "conv":
                W, b = next(weights)
                (ho, wo), pads = conv_geometry(shape[:2], W.shape[:2], op[1], op[2])
                out.append(Step("conv", shape, (ho, wo, W.shape[3]), W, b, op[1], pads))
                shape = out[-1].out_shape
            elif op[0] == "dense":
                dense()
            elif op[0] == "flatten":
                out.append(Step("flatten", shape, (int(np.prod(shape)),)))
                shape = out[-1].out_shape
            elif op[0] == "layernorm":
                gain, bias = next(weights)
                out.append(Step("layernorm", shape, shape, gain, bias))
            else:
                out.append(Step(op[0], shape, shape))
    else:
        for _ in policy.layers[:-1]:
            dense()
            out.append(Step(policy.activation, shape, shape))
    dense()                                        # the linear Q head
    return out


class HeadLayout(NamedTuple):
    """How the last dense layer's outputs become Q: ``kind`` "q" (linear / dueling), "categorical" or "quantile";
    ``n`` values per action (1 for a Q head); ``dueling`` (a V row first); ``z`` the categorical support."""
    kind: str
    n: int
    dueling: bool
    z: np.ndarray | None = None


def head_layout(policy: Policy) -> HeadLayout:
    """The ``HeadLayout`` of ``policy``'s head, from its name and ``head_params`` (``policy.py``'s defaults)."""
    dueling = policy.head.endswith("dueling")
    p = policy.head_params
    if policy.head.startswith("categorical"):
        n = int(p.get("n_atoms", 51))
        z = np.linspace(p.get("v_min", -10.0), p.get("v_max", 10.0), n).astype(policy.dtype)
        return HeadLayout("categorical", n, dueling, z)
    if policy.head.startswith("quantile"):
        return HeadLayout("quantile", int(p.get("n_quantiles", 32)), dueling)
    return HeadLayout("q", 1, dueling)


def describe(policy: Policy) -> str:
    """One line naming the network: ``MLP 4-64-64-2 tanh, linear head`` or the layer list."""
    layout = head_layout(policy)
    head = "dueling head (Q = V + A - mean A)" if policy.head == "dueling" else "linear head"
    if layout.kind == "categorical":
        head = (f"{'dueling ' if layout.dueling else ''}categorical head ({layout.n} atoms on "
                f"[{layout.z[0]:g}, {layout.z[-1]:g}], Q = sum_i p_i z_i)")
    elif layout.kind == "quantile":
        head = f"{'dueling ' if layout.dueling else ''}quantile head ({layout.n} quantiles, Q = their mean)"
    if policy.layer_list:
        return f"layers {policy.layer_list} on {policy.obs_shape}, {head}"
    sizes = [policy.obs_dim] + [W.shape[1] for W, _ in policy.layers]
    return f"MLP {'-'.join(map(str, sizes))} {policy.activation}, {head}"
