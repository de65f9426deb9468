"""The factorised-Gaussian noisy linear layer: the noise's form, the paper's init, gradients with the noise fixed."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradients import check_grad
from numpy_ddqn.nn.noisy import (FactorisedNoise, init_noisy_linear, noisy_linear_backward, noisy_linear_forward,
                                 noisy_linear_mean_forward, sample_noise, scaled_noise)

seeds = st.integers(0, 2**32 - 1)


def draw(B, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    params = init_noisy_linear(n_in, n_out, rng, sigma0=0.5, dtype=np.float64)
    params["sigma_W"] += 0.1 * rng.normal(size=(n_in, n_out))     # unequal sigmas, so a mix-up would show
    params["sigma_b"] += 0.1 * rng.normal(size=n_out)
    noise = sample_noise(n_in, n_out, rng, dtype=np.float64)
    return params, noise, rng.normal(size=(B, n_in)), rng.normal(size=(B, n_out))


@given(B=st.integers(1, 6), n_in=st.integers(1, 8), n_out=st.integers(1, 8), seed=seeds)
def test_noisy_forward_equals_the_equation_entry_by_entry(B, n_in, n_out, seed):
    params, noise, x, _ = draw(B, n_in, n_out, seed)
    y, _ = noisy_linear_forward(x, params, noise)
    for b in range(B):
        for k in range(n_out):
            w = [params["mu_W"][i, k] + params["sigma_W"][i, k] * noise["eps_W"][i, k] for i in range(n_in)]
            bias = params["mu_b"][k] + params["sigma_b"][k] * noise["eps_b"][k]
            assert y[b, k] == pytest.approx(sum(x[b, i] * w[i] for i in range(n_in)) + bias, rel=1e-10, abs=1e-12)


@given(B=st.integers(1, 6), n_in=st.integers(1, 8), n_out=st.integers(1, 8), seed=seeds)
def test_noisy_backward_matches_finite_differences_with_the_noise_fixed(B, n_in, n_out, seed):
    params, noise, x, g = draw(B, n_in, n_out, seed)
    loss = lambda: float(np.sum(noisy_linear_forward(x, params, noise)[0] * g))
    dx, grads = noisy_linear_backward(g, noisy_linear_forward(x, params, noise)[1])
    check_grad(loss, x, dx, "dx")
    for name in ("mu_W", "sigma_W", "mu_b", "sigma_b"):
        check_grad(loss, params[name], grads[name], "d" + name)


def test_noise_is_factorised_and_drawn_from_the_passed_generator():
    noise = sample_noise(3, 4, np.random.default_rng(7), dtype=np.float64)
    e = np.random.default_rng(7).standard_normal(7)                 # the same stream, one call of n_in + n_out
    f_in, f_out = scaled_noise(e[:3]), scaled_noise(e[3:])
    np.testing.assert_allclose(noise["eps_W"], np.outer(f_in, f_out))
    np.testing.assert_allclose(noise["eps_b"], f_out)
    assert np.linalg.matrix_rank(noise["eps_W"]) == 1                  # factorised: an outer product
    np.testing.assert_allclose(scaled_noise(np.array([-4.0, 0.0, 2.25])), [-2.0, 0.0, 1.5])
    other = sample_noise(3, 4, np.random.default_rng(8), dtype=np.float64)
    assert not np.allclose(other["eps_W"], noise["eps_W"])


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@given(sizes=st.lists(st.integers(1, 9), min_size=2, max_size=5), seed=seeds)
def test_factorised_noise_writes_each_layers_noise_from_one_draw(dtype, rtol, sizes, seed):
    """``FactorisedNoise.draw`` against a naive reference, layer by layer: from one stream of normals, layer l takes
    n_in normals for eps_in, one it does not use, n_out for eps_out; its block is [f(eps_in) f(eps_out)^T; f(eps_out)]
    (eps_W over eps_b)."""
    blocks = [np.full((n_in + 1, n_out), np.nan, dtype) for n_in, n_out in zip(sizes, sizes[1:])]
    FactorisedNoise(blocks, dtype).draw(np.random.default_rng(seed))
    e = np.random.default_rng(seed).standard_normal(sum(m + 1 + n for m, n in zip(sizes, sizes[1:])), dtype=dtype)
    e = e.astype(np.float64)
    start = 0
    for (n_in, n_out), block in zip(zip(sizes, sizes[1:]), blocks):     # layer by layer, in order
        f_in, f_out = scaled_noise(e[start:start + n_in]), scaled_noise(e[start + n_in + 1:start + n_in + 1 + n_out])
        for i in range(n_in):
            for j in range(n_out):
                assert block[i, j] == pytest.approx(f_in[i] * f_out[j], rel=rtol, abs=1e-30)
        np.testing.assert_allclose(block[n_in], f_out, rtol=rtol)
        start += n_in + 1 + n_out


@pytest.mark.parametrize("block, what", [(np.zeros((4, 6), np.float32)[:, ::2], "C-contiguous: False"),
                                         (np.zeros((4, 3), np.float64), "(4, 3) float64"),
                                         (np.zeros((4, 3), np.float32), "writeable: False")])
def test_factorised_noise_refuses_a_block_it_cannot_write_in_one_line(block, what):
    block.flags.writeable = what != "writeable: False"
    with pytest.raises(ValueError, match="noise blocks must be writeable C-contiguous float32") as e:
        FactorisedNoise([block], np.float32)
    assert what in str(e.value) and "\n" not in str(e.value)


def test_init_is_the_papers_factorised_init():
    n_in, n_out = 64, 32
    params = init_noisy_linear(n_in, n_out, np.random.default_rng(0), sigma0=0.5)
    bound = 1 / np.sqrt(n_in)
    for name in ("mu_W", "mu_b"):
        assert params[name].dtype == np.float32
        assert np.all(np.abs(params[name]) <= bound) and np.abs(params[name]).max() > 0.9 * bound
    np.testing.assert_allclose(params["sigma_W"], 0.5 / np.sqrt(n_in))
    x = np.ones((2, n_in), np.float32)
    noise = sample_noise(n_in, n_out, np.random.default_rng(1))
    assert noise["eps_W"].dtype == np.float32
    y, cache = noisy_linear_forward(x, params, noise)
    _, grads = noisy_linear_backward(y, cache)
    assert y.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())
    np.testing.assert_allclose(params["sigma_b"], 0.5 / np.sqrt(n_in))


def test_mean_forward_is_the_noisy_forward_without_noise():
    params, noise, x, _ = draw(5, 4, 3, 0)
    zero = {k: np.zeros_like(v) for k, v in noise.items()}
    np.testing.assert_allclose(noisy_linear_mean_forward(x, params), noisy_linear_forward(x, params, zero)[0])
    np.testing.assert_allclose(noisy_linear_mean_forward(x, params), x @ params["mu_W"] + params["mu_b"])
    assert not np.allclose(noisy_linear_forward(x, params, noise)[0], noisy_linear_mean_forward(x, params))


def test_bad_shapes_are_one_clear_error():
    params, noise, x, _ = draw(2, 4, 3, 0)
    with pytest.raises(ValueError, match=r"input must have shape \(B, 4\)"):
        noisy_linear_forward(x[:, :3], params, noise)
    with pytest.raises(ValueError, match="noise eps_W"):
        noisy_linear_forward(x, params, sample_noise(3, 3, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="sigma0"):
        init_noisy_linear(2, 2, np.random.default_rng(0), sigma0=-1.0)
