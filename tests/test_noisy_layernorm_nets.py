"""Noisy layers and LayerNorm inside the networks: MLP(layer_norm=, noisy=) and Network's ``layernorm`` token,
checked by central finite differences in float64 with the noise held fixed, and the mean / noise switch."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradients import check_grad
from numpy_ddqn.nn import MLP, Network

seeds = st.integers(0, 2**32 - 1)


def perturb_extras(net, rng):
    """Gains, biases and sigmas away from their init (ones, zeros, a constant), so a mix-up would show."""
    for p in net.params[2 * net.n_layers:]:
        p += 0.3 * rng.normal(size=p.shape)


def check_net_gradient(net, x, rng, what, noise_seed=None):
    """Every parameter's gradient against finite differences; a noisy net redraws the same noise per forward, so
    W = mu + sigma * eps follows the perturbed mu and sigma with eps held fixed."""
    redraw = (lambda: net.sample_noise(np.random.default_rng(noise_seed))) if noise_seed is not None else (lambda: 0)
    redraw()
    g = rng.normal(size=net(x).shape)                              # a random upstream gradient
    loss = lambda: redraw() or float(np.sum(net.forward(x)[0] * g))
    redraw()
    q, cache = net.forward(x)
    grads, _ = net.backward(g, cache)
    for name, p, dp in zip(net.param_names, net.params, grads):
        check_grad(loss, p, dp, f"{what} {name}")


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 5), n_in=st.integers(1, 5), widths=st.lists(st.integers(2, 6), min_size=1, max_size=3),
       n_actions=st.integers(2, 4), layer_norm=st.booleans(), noisy=st.booleans(),
       head=st.sampled_from(["linear", "dueling"]), activation=st.sampled_from(["tanh", "relu"]), seed=seeds)
def test_mlp_with_layernorm_and_noise_matches_finite_differences(B, n_in, widths, n_actions, layer_norm, noisy,
                                                                  head, activation, seed):
    rng = np.random.default_rng(seed)
    net = MLP((n_in, *widths, n_actions), activation, np.float64, rng, head, layer_norm=layer_norm, noisy=noisy)
    perturb_extras(net, rng)
    # mu and sigma through one fixed draw of the noise
    check_net_gradient(net, rng.normal(size=(B, n_in)), rng, "mlp", seed if noisy else None)


@settings(max_examples=15, deadline=None)
@given(B=st.integers(1, 4), width=st.integers(2, 6), activation=st.sampled_from(["relu", "tanh"]),
       head=st.sampled_from(["linear", "dueling"]), noisy=st.booleans(), seed=seeds)
def test_network_layernorm_token_and_noise_match_finite_differences(B, width, activation, head, noisy, seed):
    rng = np.random.default_rng(seed)
    net = Network((5, 5, 2), f"conv3x2,{activation},flatten,dense{width},layernorm,{activation}", 3, head,
                  np.float64, rng, noisy=noisy)
    perturb_extras(net, rng)                                       # the sigmas of the two dense layers
    for op in net.ops:                                             # move the LayerNorm away from g = 1, b = 0
        if op.layer.kind == "layernorm":
            net.params[2 * op.param] += 0.3 * rng.normal(size=op.in_shape)
            net.params[2 * op.param + 1] += 0.3 * rng.normal(size=op.in_shape)
    check_net_gradient(net, rng.normal(size=(B, 5, 5, 2)), rng, "network", seed if noisy else None)


def test_noisy_network_makes_the_dense_layers_noisy_and_leaves_the_conv_plain():
    net = Network((5, 5, 2), "conv3x2,relu,flatten,dense6,relu", 3, "dueling", np.float64,
                  np.random.default_rng(0), noisy=True)
    assert net.param_names == ["W0", "b0", "W1", "b1", "W2", "b2", "sigma_W1", "sigma_b1", "sigma_W2", "sigma_b2"]
    x = np.random.default_rng(1).normal(size=(4, 5, 5, 2))
    mean_q = net(x)
    net.sample_noise(np.random.default_rng(2))
    assert not np.allclose(net(x), mean_q)
    net.use_mean()
    np.testing.assert_array_equal(net(x), mean_q)


def test_mlp_layernorm_equals_the_network_of_the_same_layers():
    mlp = MLP((4, 8, 8, 2), "relu", np.float64, np.random.default_rng(1), layer_norm=True)
    perturb_extras(mlp, np.random.default_rng(2))
    weights, layers = mlp.export_weights()
    assert layers == "dense8,layernorm,relu,dense8,layernorm,relu"
    net = Network((4,), layers, 2, dtype=np.float64)
    net.set_weights(weights)
    x = np.random.default_rng(3).normal(size=(6, 4))
    np.testing.assert_allclose(mlp(x), net(x), rtol=1e-12)
    np.testing.assert_allclose(mlp.forward_one(x[0]), mlp(x[:1])[0], rtol=1e-12)


def test_layernorm_starts_as_the_identity_and_draws_nothing():
    plain = MLP((4, 8, 2), rng=np.random.default_rng(5))
    normed = MLP((4, 8, 2), rng=np.random.default_rng(5), layer_norm=True)
    np.testing.assert_array_equal(plain.flat, normed.flat[:plain.n_params])   # the same W, b: no extra draw
    np.testing.assert_array_equal(normed.flat[plain.n_params:], np.tile(np.r_[np.ones(8), np.zeros(8)], 1))
    assert normed.param_names == ["W0", "b0", "W1", "b1", "ln_gain0", "ln_bias0"]


def test_noisy_mlp_uses_the_mean_until_noise_is_drawn_and_after_use_mean():
    net = MLP((3, 5, 2), dtype=np.float64, rng=np.random.default_rng(0), noisy=True)
    x = np.random.default_rng(1).normal(size=(4, 3))
    W0, b0, W1, b1 = (p for p in net.params[:4])
    mean_q = np.tanh(x @ W0 + b0) @ W1 + b1
    np.testing.assert_allclose(net(x), mean_q, rtol=1e-12)
    net.sample_noise(np.random.default_rng(2))
    noisy_q = net(x)
    assert not np.allclose(noisy_q, mean_q)
    np.testing.assert_array_equal(net.forward_one(x[0]), net.forward_one(x[0]))   # held until the next draw
    net.use_mean()
    np.testing.assert_allclose(net(x), mean_q, rtol=1e-12)
    grads, _ = net.backward(np.ones((4, 2)), net.forward(x)[1])
    assert all(not g.any() for g in grads[4:])                   # the mean does not depend on sigma


def factorised_noise_naive(sizes, rng):
    """Each layer's noise entry by entry from one draw of n_in + 1 + n_out normals per layer (the middle one unused)."""
    e = rng.standard_normal(sum(m + 1 + n for m, n in zip(sizes, sizes[1:])))
    f = lambda v: np.sign(v) * np.sqrt(abs(v))
    noises, start = [], 0
    for n_in, n_out in zip(sizes, sizes[1:]):
        f_in, f_out = [f(v) for v in e[start:start + n_in]], [f(v) for v in e[start + n_in + 1:start + n_in + 1 + n_out]]
        noises.append({"eps_W": np.array([[f_in[i] * f_out[j] for j in range(n_out)] for i in range(n_in)]),
                       "eps_b": np.array(f_out)})
        start += n_in + 1 + n_out
    return noises


@pytest.mark.parametrize("make", [lambda: MLP((3, 4, 2), "identity", np.float64, np.random.default_rng(0), noisy=True),
                                  lambda: Network((3,), "dense4,identity", 2, dtype=np.float64, noisy=True)])
def test_noisy_draw_is_the_factorised_noise_of_the_generator(make):
    from numpy_ddqn.nn.noisy import noisy_linear_forward
    net = make()
    net.sample_noise(np.random.default_rng(9))
    noises = factorised_noise_naive((3, 4, 2), np.random.default_rng(9))   # the same draw, layer by layer
    x = np.random.default_rng(1).normal(size=(2, 3))
    h = x
    for i, noise in enumerate(noises):
        p = {"mu_W": net.params[2 * i], "mu_b": net.params[2 * i + 1], "sigma_W": net.params[4 + 2 * i],
             "sigma_b": net.params[4 + 2 * i + 1]}
        assert not np.allclose(p["sigma_W"], 0)
        h = noisy_linear_forward(h, p, noise)[0]
    np.testing.assert_allclose(net(x), h, rtol=1e-12)


def test_layernorm_token_errors_name_the_layer():
    with pytest.raises(ValueError, match="layernorm needs a vector"):
        Network((5, 5, 2), "conv3x2,layernorm,relu", 2)
