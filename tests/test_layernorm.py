"""LayerNorm: forward against its definition, backward against float64 central differences."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradients import check_grad
from numpy_ddqn.nn import MLP
from numpy_ddqn.nn.layernorm import (init_layernorm, layernorm_backward, layernorm_forward,
                                     layernorm_forward_one)

seeds = st.integers(0, 2**32 - 1)


def draw(B, H, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    params = {"gain": 1.0 + 0.5 * rng.normal(size=H), "bias": rng.normal(size=H)}
    return rng.normal(size=(B, H)) * scale + rng.normal(), params, rng.normal(size=(B, H))


@given(B=st.integers(1, 6), H=st.integers(1, 10), seed=seeds)
def test_layernorm_forward_equals_its_definition_row_by_row(B, H, seed):
    x, params, _ = draw(B, H, seed)
    y, _ = layernorm_forward(x, params)
    for b in range(B):                                              # forward pass, one row at a time
        mu = sum(x[b]) / H
        var = sum((v - mu) ** 2 for v in x[b]) / H
        expected = [params["gain"][h] * (x[b, h] - mu) / np.sqrt(var + 1e-5) + params["bias"][h] for h in range(H)]
        np.testing.assert_allclose(y[b], expected, rtol=1e-10, atol=1e-12)


@given(B=st.integers(1, 6), H=st.integers(1, 10), seed=seeds, scale=st.sampled_from([1e-2, 1.0, 30.0]))
def test_layernorm_backward_matches_finite_differences(B, H, seed, scale):
    x, params, g = draw(B, H, seed, scale)
    loss = lambda: float(np.sum(layernorm_forward(x, params)[0] * g))
    dx, grads = layernorm_backward(g, layernorm_forward(x, params)[1])
    check_grad(loss, x, dx, "dx", eps=1e-6 * scale)
    check_grad(loss, params["gain"], grads["gain"], "dgain")
    check_grad(loss, params["bias"], grads["bias"], "dbias")


@pytest.mark.parametrize("H", [1, 5])
def test_constant_input_is_finite_gives_the_bias_and_its_gradient(H):
    """Variance 0: eps keeps 1 / sqrt(var + eps) finite, x_hat = 0, y = bias; dx matches finite differences."""
    rng = np.random.default_rng(0)
    x = np.full((3, H), 7.25)
    params = {"gain": rng.normal(size=H), "bias": rng.normal(size=H)}
    y, cache = layernorm_forward(x, params)
    np.testing.assert_array_equal(y, np.broadcast_to(params["bias"], (3, H)))
    g = rng.normal(size=(3, H))
    dx, grads = layernorm_backward(g, cache)
    assert np.all(np.isfinite(dx))
    np.testing.assert_array_equal(grads["gain"], 0.0)               # x_hat = 0: the gain has no effect here
    check_grad(lambda: float(np.sum(layernorm_forward(x, params)[0] * g)), x, dx, "dx at variance 0",
               eps=1e-7, rtol=1e-4, atol=1e-6)


def test_float32_in_float32_out_and_rows_are_normalised():
    x = np.random.default_rng(1).normal(3.0, 5.0, size=(64, 64)).astype(np.float32)
    y, _ = layernorm_forward(x, init_layernorm(64))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=1), 1.0, rtol=1e-3)


def test_bad_shapes_are_one_clear_error():
    with pytest.raises(ValueError, match=r"shape \(B, H\)"):
        layernorm_forward(np.zeros(4), init_layernorm(4))
    with pytest.raises(ValueError, match="gain must have shape"):
        layernorm_forward(np.zeros((2, 4)), init_layernorm(3))


@given(B=st.integers(1, 6), H=st.integers(1, 70), seed=seeds, scale=st.sampled_from([1e-3, 1.0, 30.0]))
def test_one_vector_equals_the_batched_forward_row_by_row(B, H, seed, scale):
    """layernorm_forward_one (scalar statistics, in place) gives each row of the batched forward, float64."""
    x, params, _ = draw(B, H, seed, scale)
    y, _ = layernorm_forward(x, params)
    stat = np.empty(())
    for b in range(B):
        row = x[b].copy()
        assert layernorm_forward_one(row, params, stat=stat) is row                 # written into x
        np.testing.assert_allclose(row, y[b], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(layernorm_forward_one(x[0].copy(), params), y[0], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("H", [1, 5, 64])
def test_one_constant_vector_gives_the_bias_as_the_batched_forward(H):
    rng = np.random.default_rng(4)
    params = {"gain": rng.normal(size=H), "bias": rng.normal(size=H)}
    x = np.full(H, 7.25)
    np.testing.assert_array_equal(layernorm_forward_one(x.copy(), params), params["bias"])
    np.testing.assert_array_equal(layernorm_forward(x[np.newaxis], params)[0][0], params["bias"])


def test_out_arguments_are_written_and_give_the_same_values():
    """forward's ``out`` (x itself allowed) and backward's ``dgain``, ``dbias``, ``out`` (dy itself allowed)."""
    x, params, dy = draw(4, 7, 3)
    y, cache = layernorm_forward(x, params)
    dx, grads = layernorm_backward(dy, cache)
    x2, dy2, dgain, dbias = x.copy(), dy.copy(), np.empty(7), np.empty(7)
    y2, cache2 = layernorm_forward(x2, params, out=x2)
    assert y2 is x2
    dx2, grads2 = layernorm_backward(dy2, cache2, dgain, dbias, out=dy2)
    assert dx2 is dy2 and grads2["gain"] is dgain and grads2["bias"] is dbias
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(dx2, dx)
    np.testing.assert_array_equal(dgain, grads["gain"])
    np.testing.assert_array_equal(dbias, grads["bias"])


@pytest.mark.parametrize("sizes", [(4, 64, 64, 2), (3, 5, 2), (6, 16, 9, 33, 4), (2, 1, 3)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_forward_one_with_layernorm_equals_the_batched_forward(sizes, dtype):
    """The acting path (one vector, scalar statistics) against a one-row and a many-row forward; float32 only up
    to rounding (the statistics' square root is float64), and a constant input row too."""
    net = MLP(sizes, "tanh", dtype, np.random.default_rng(1), layer_norm=True, head="dueling")
    rng = np.random.default_rng(2)
    for p in net.params[2 * net.n_layers:]:
        p += 0.3 * rng.normal(size=p.shape)
    x = np.vstack([rng.normal(size=(5, sizes[0])), np.full((1, sizes[0]), 0.5)]).astype(dtype)
    q = net(x)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-5}
    for i in range(len(x)):
        np.testing.assert_allclose(net.forward_one(x[i]), q[i], **tol)
        np.testing.assert_allclose(net.forward_one(x[i]), net(x[i:i + 1])[0], **tol)
