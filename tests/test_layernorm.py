"""LayerNorm: forward against its definition, backward against float64 central differences."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradients import check_grad
from numpy_ddqn.nn.layernorm import init_layernorm, layernorm_backward, layernorm_forward

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
