"""``--format onnx``: the policy as an ONNX model, built with the ``onnx`` package's helpers (no torch).

Opset ``OPSET`` (ONNX's default domain). Input ``obs``: ``(batch, *obs_shape)`` in the policy's dtype
(float32 unless trained in float64), NHWC for images as the env gives them. Outputs ``q``:
``(batch, n_actions)`` Q-values and ``action``: ``(batch,)`` int64, the greedy action (ArgMax, the first
on ties, as NumPy's). The initializers ``W0, b0, W1, b1, ...`` are the policy's arrays unchanged (conv
kernels ``(kh, kw, C_in, C_out)`` are transposed to ONNX's ``(C_out, C_in, kh, kw)`` by a node, which
runtimes fold at load), so ``weights_sha256`` of the initializers is the SHA-256 stored in the model's
metadata (``weights_sha256``), checked by ``OnnxPolicy``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import require
from ..policy import LAYER_NORM_EPS, Policy, weights_sha256
from ..policy import write_atomic
from .graph import describe, fold_implicit, head_layout, steps

OPSET = 17
"""The ONNX opset the exported models declare (ReduceMean still takes ``axes`` as an attribute)."""


def onnx_model(policy: Policy):
    """The ``onnx.ModelProto`` of ``policy`` (see the module docstring); needs the ``onnx`` extra. An IQN policy is
    written as the plain network it equals (``graph.fold_implicit``), whose weights the metadata's SHA-256 covers."""
    policy = fold_implicit(policy)
    onnx = require("onnx", "onnx", "--format onnx")
    from onnx import TensorProto, helper, numpy_helper
    elem = TensorProto.DOUBLE if policy.dtype == np.float64 else TensorProto.FLOAT
    obs_shape = list(policy.obs_shape) if policy.layer_list else [policy.obs_dim]
    nodes, inits = [], []
    names = iter(f"t{i}" for i in range(10_000))
    h, layout, i_weight = "obs", "NHWC", 0

    def node(op, inputs, **attrs):
        out = next(names)
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    for step in steps(policy):
        if step.kind in ("dense", "conv"):
            W, b = f"W{i_weight}", f"b{i_weight}"
            inits += [numpy_helper.from_array(np.asarray(step.W), W), numpy_helper.from_array(np.asarray(step.b), b)]
            i_weight += 1
            if step.kind == "dense":
                h = node("Add", [node("MatMul", [h, W]), b])
            else:
                if layout == "NHWC":
                    h, layout = node("Transpose", [h], perm=[0, 3, 1, 2]), "NCHW"
                kernel = node("Transpose", [W], perm=[3, 2, 0, 1])     # (kh, kw, C, F) -> (F, C, kh, kw)
                h = node("Conv", [h, kernel, b], strides=[step.stride] * 2, pads=list(step.pads),
                         kernel_shape=list(step.W.shape[:2]))
        elif step.kind == "flatten":
            if layout == "NCHW":                  # back to NHWC so the flattened order is the policy's
                h, layout = node("Transpose", [h], perm=[0, 2, 3, 1]), "NHWC"
            h = node("Flatten", [h], axis=1)
        elif step.kind == "layernorm":        # LayerNormalization (opset 17) over the last axis, the features
            g, b = f"W{i_weight}", f"b{i_weight}"
            inits += [numpy_helper.from_array(np.asarray(step.W), g), numpy_helper.from_array(np.asarray(step.b), b)]
            i_weight += 1
            h = node("LayerNormalization", [h, g, b], axis=-1, epsilon=LAYER_NORM_EPS)
        elif step.kind == "tanh":
            h = node("Tanh", [h])
        elif step.kind == "relu":
            h = node("Relu", [h])
        # identity: nothing
    layout = head_layout(policy)
    if layout.kind != "q":                        # rows of N values per action -> Q (graph.py's HeadLayout)
        A, N, D = policy.n_actions, layout.n, int(layout.dueling)
        inits.append(numpy_helper.from_array(np.array([0, D + A, N], np.int64), "rows_shape"))
        h = node("Reshape", [h, "rows_shape"])    # (B, D + A, N)
        if layout.dueling:                        # per atom: V_i + (A_i - mean_a A_i)
            inits += [numpy_helper.from_array(np.array(v, np.int64), n) for v, n in
                      (([0], "r0"), ([1], "r1"), ([1 + A], "rend"), ([1], "raxis"))]
            v = node("Slice", [h, "r0", "r1", "raxis"])
            a = node("Slice", [h, "r1", "rend", "raxis"])
            h = node("Add", [v, node("Sub", [a, node("ReduceMean", [a], axes=[1], keepdims=1)])])
        if layout.kind == "categorical":          # Q = softmax(logits) . z over the atoms
            inits.append(numpy_helper.from_array(layout.z.astype(policy.dtype), "support_z"))
            h = node("MatMul", [node("Softmax", [h], axis=-1), "support_z"])
        else:                                     # Q = mean over the quantiles
            h = node("ReduceMean", [h], axes=[2], keepdims=0)
    elif policy.head == "dueling":                # Q = V + (A - mean_a A) on the head's (V, A) columns
        inits += [numpy_helper.from_array(np.array(v, np.int64), n) for v, n in
                  (([0], "c0"), ([1], "c1"), ([1 + policy.n_actions], "cend"), ([1], "axis1"))]
        v = node("Slice", [h, "c0", "c1", "axis1"])
        a = node("Slice", [h, "c1", "cend", "axis1"])
        h = node("Add", [v, node("Sub", [a, node("ReduceMean", [a], axes=[1], keepdims=1)])])
    nodes.append(helper.make_node("Identity", [h], ["q"]))
    nodes.append(helper.make_node("ArgMax", ["q"], ["action"], axis=1, keepdims=0, select_last_index=0))
    graph = helper.make_graph(
        nodes, "numpy_ddqn_policy", [helper.make_tensor_value_info("obs", elem, ["batch", *obs_shape])],
        [helper.make_tensor_value_info("q", elem, ["batch", policy.n_actions]),
         helper.make_tensor_value_info("action", TensorProto.INT64, ["batch"])], inits)
    model = helper.make_model(graph, producer_name="numpy_ddqn", producer_version=__version__,
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              doc_string=f"Greedy policy of a Double-DQN agent: {describe(policy)}")
    model.ir_version = min(model.ir_version, 8)   # readable by older runtimes too (opset 17 needs IR 8)
    meta = {"env_id": policy.env_id, "step": policy.step, "obs_shape": obs_shape, "obs_dtype": policy.obs_dtype,
            "n_actions": policy.n_actions, "network": describe(policy), "weights_sha256": policy.sha256(),
            "n_weights": 2 * len(policy.layers)}
    helper.set_model_props(model, {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    onnx.checker.check_model(model)
    return model


def write_onnx(policy: Policy, path: str | os.PathLike) -> Path:
    """Write ``onnx_model(policy)`` to ``path`` atomically."""
    return write_atomic(path, onnx_model(policy).SerializeToString())


class OnnxPolicy:
    """An exported ONNX model run by onnxruntime (one thread unless told), its weights' SHA-256 checked first."""

    def __init__(self, path: str | os.PathLike, threads: int = 1) -> None:
        onnx = require("onnx", "onnx", "reading an exported ONNX model")
        ort = require("onnxruntime", "onnx", "running an exported ONNX model")
        from onnx import numpy_helper
        model = onnx.load(str(path))
        props = {p.key: p.value for p in model.metadata_props}
        inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        n = int(props.get("n_weights", "0"))
        weights = [inits.get(f"{k}{i}") for i in range(n // 2) for k in ("W", "b")]
        if "weights_sha256" not in props or any(w is None for w in weights) \
                or weights_sha256(weights) != props["weights_sha256"]:
            raise ValueError(f"{path}: the weights do not match the model's weights_sha256 metadata: the file was "
                             f"altered or damaged (or not exported by numpy_ddqn); export it again")
        self.meta = {k: v for k, v in props.items()}
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        self.dtype = np.float64 if "double" in self.session.get_inputs()[0].type else np.float32

    def run(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:   # (B, *obs_shape) -> q: (B, A), action: (B,)
        """Q-values and greedy actions of a batch."""
        q, action = self.session.run(["q", "action"], {"obs": np.ascontiguousarray(obs, self.dtype)})
        return q, action

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values of a batch ``(B, *obs_shape) -> (B, A)``."""
        return self.run(obs)[0]

