"""Backprop of the MLP against central finite differences, in float64, on hypothesis-drawn nets."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from numpy_ddqn.nn import MLP, check_mlp_gradients, numeric_grad
from numpy_ddqn.nn.layers import ACTIVATIONS, linear_backward, linear_forward

RTOL, ATOL = 1e-5, 1e-7          # float64 central differences with eps = 1e-6
seeds = st.integers(0, 2**32 - 1)


def assert_grad_close(mine, numeric, what):
    mine, numeric = np.asarray(mine), np.asarray(numeric)
    if not np.allclose(mine, numeric, rtol=RTOL, atol=ATOL):
        worst = np.unravel_index(np.argmax(np.abs(mine - numeric)), mine.shape)
        raise AssertionError(f"backward pass went wrong for {what} at {worst}: "
                             f"mine {mine[worst]!r} vs numeric {numeric[worst]!r}\nmine:\n{mine}\nnumeric:\n{numeric}")


def test_numeric_grad_of_a_known_function():
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    assert_grad_close(numeric_grad(lambda: float(np.sum(x ** 3)), x), 3 * x ** 2, "sum(x**3)")


@given(B=st.integers(1, 6), n_in=st.integers(1, 8), n_out=st.integers(1, 8), seed=seeds)
def test_linear_backward_matches_finite_differences(B, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    x, W, b = rng.normal(size=(B, n_in)), rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
    g = rng.normal(size=(B, n_out))                              # random upstream gradient
    loss = lambda: float(np.sum(linear_forward(x, W, b) * g))
    dx, dW, db = linear_backward(g, x, W)
    assert_grad_close(dx, numeric_grad(loss, x), "dx")
    assert_grad_close(dW, numeric_grad(loss, W), "dW")
    assert_grad_close(db, numeric_grad(loss, b), "db")


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(B=st.integers(1, 6), H=st.integers(1, 8), seed=seeds)
def test_activation_backward_matches_finite_differences(name, B, H, seed):
    forward, backward = ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    z, g = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    assume(name != "relu" or np.min(np.abs(z)) > 1e-3)          # relu has a kink at 0
    loss = lambda: float(np.sum(forward(z.copy()) * g))
    assert_grad_close(backward(g, forward(z.copy())), numeric_grad(loss, z), f"{name} dz")


@given(depth=st.integers(1, 4), width=st.integers(1, 16), B=st.integers(1, 8),
       n_in=st.integers(1, 6), n_out=st.integers(1, 4),
       activation=st.sampled_from(sorted(ACTIVATIONS)), seed=seeds)
def test_mlp_backward_matches_finite_differences(depth, width, B, n_in, n_out, activation, seed):
    rng = np.random.default_rng(seed)
    net = MLP((n_in,) + (width,) * depth + (n_out,), activation, np.float64, rng)
    net.flat += 0.1 * rng.normal(size=net.n_params)              # non-zero biases too
    x = rng.normal(size=(B, n_in))
    if activation == "relu":                                      # stay away from the kinks
        h, pre = x, []
        for i in range(net.n_layers - 1):
            z = h @ net.params[2 * i] + net.params[2 * i + 1]
            pre.append(z)
            h = np.maximum(z, 0)
        assume(all(np.min(np.abs(z)) > 1e-4 for z in pre))
    result = check_mlp_gradients(net, x, rng=rng)
    if not np.allclose(result.analytic, result.numeric, rtol=RTOL, atol=ATOL):
        raise AssertionError("backward pass went wrong (mine vs numeric):\n" + result.report())
    # forward pass went well too: the same net computed by plain matrix algebra
    act = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "identity": lambda z: z}[activation]
    h = x
    for i in range(net.n_layers):
        z = h @ net.params[2 * i] + net.params[2 * i + 1]
        h = z if i == net.n_layers - 1 else act(z)
    np.testing.assert_allclose(net(x), h, rtol=1e-12, atol=1e-12)


def test_backward_overwrites_and_never_accumulates():
    rng = np.random.default_rng(0)
    net = MLP((3, 5, 2), "tanh", np.float64, rng)
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    out = np.full(net.n_params, 123.0)
    _, first = net.backward(g, net.forward(x)[1], out=out)
    _, second = net.backward(g, net.forward(x)[1], out=out)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(second, net.backward(g, net.forward(x)[1])[1])


def test_gradient_check_flags_a_wrong_backward():
    """The check can fail: a net whose backward drops the bias gradient is caught."""
    rng = np.random.default_rng(0)
    net = MLP((3, 4, 2), "tanh", np.float64, rng)
    real_backward = net.backward
    def broken(dout, cache, out=None):
        grads, flat = real_backward(dout, cache, out)
        grads[1][...] = 0.0
        return grads, flat
    net.backward = broken
    assert check_mlp_gradients(net, rng.normal(size=(5, 3))).rel_error > 1e-3


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_float32_stays_float32(activation):
    rng = np.random.default_rng(0)
    net = MLP((4, 8, 2), activation, np.float32, rng)
    q, cache = net.forward(rng.normal(size=(3, 4)).astype(np.float32))
    assert q.dtype == np.float32 and all(c.dtype == np.float32 for c in cache)
    grads, flat = net.backward(np.ones((3, 2), np.float32), cache)
    assert flat.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)


def test_init_shapes_and_statistics():
    rng = np.random.default_rng(0)
    net = MLP((100, 200, 3), "tanh", np.float64, rng)
    assert [p.shape for p in net.params] == [(100, 200), (200,), (200, 3), (3,)]
    assert net.param_names == ["W0", "b0", "W1", "b1"]
    limit = np.sqrt(6 / 300)
    assert np.abs(net.params[0]).max() <= limit and np.all(net.params[1] == 0)
    np.testing.assert_allclose(net.params[0].std(), limit / np.sqrt(3), rtol=0.05)  # uniform std
    relu = MLP((100, 200, 3), "relu", np.float64, rng)
    np.testing.assert_allclose(relu.params[0].std(), np.sqrt(2 / 100), rtol=0.05)   # He


def test_weights_copy_get_set():
    rng = np.random.default_rng(0)
    online, target = MLP((4, 6, 2), rng=rng), MLP((4, 6, 2), rng=rng)
    assert not np.array_equal(online.flat, target.flat)
    target.copy_from(online)
    np.testing.assert_array_equal(online.flat, target.flat)
    online.flat += 1                                              # a copy, not an alias
    assert not np.array_equal(online.flat, target.flat)
    w = online.get_weights()
    target.set_weights(w)
    np.testing.assert_array_equal(online.flat, target.flat)
    w[0][...] = 0                                                 # get_weights returns copies
    assert np.any(online.params[0] != 0)
    with pytest.raises(ValueError, match="W0"):
        target.set_weights([np.zeros((5, 6))] + w[1:])
    with pytest.raises(ValueError, match="mismatch"):
        target.copy_from(MLP((4, 7, 2)))


def test_polyak_update():
    a, b = MLP((2, 3, 1), rng=np.random.default_rng(0)), MLP((2, 3, 1), rng=np.random.default_rng(1))
    expected = 0.1 * b.flat + 0.9 * a.flat
    a.polyak_from(b, 0.1)
    np.testing.assert_allclose(a.flat, expected, rtol=1e-6)


@pytest.mark.parametrize("bad", [dict(sizes=(4,)), dict(sizes=(4, 0, 2)), dict(sizes=(4, 2), activation="gelu"),
                                 dict(sizes=(4, 2), dtype=np.int32)])
def test_bad_construction_is_refused(bad):
    with pytest.raises(ValueError):
        MLP(**bad)


def test_bad_input_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        MLP((4, 2)).forward(np.zeros((3, 5)))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@given(B=st.integers(1, 6), H=st.integers(1, 8), seed=seeds)
def test_activation_backward_into_out_is_the_same(name, B, H, seed):
    forward, backward = ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    h, g = forward(rng.normal(size=(B, H))), rng.normal(size=(B, H))
    out = np.full((B, H), np.nan)
    np.testing.assert_array_equal(backward(g, h, out=out), backward(g, h))
    np.testing.assert_array_equal(out, backward(g, h))


@given(depth=st.integers(1, 3), width=st.integers(1, 12), B=st.integers(1, 8), n_in=st.integers(1, 6),
       n_out=st.integers(1, 4), activation=st.sampled_from(sorted(ACTIVATIONS)),
       dtype=st.sampled_from([np.float32, np.float64]), dueling=st.booleans(), seed=seeds)
def test_reuse_and_forward_one_give_the_same_values_bit_for_bit(depth, width, B, n_in, n_out, activation, dtype,
                                                                dueling, seed):
    """The training step's reuse=True forward/backward and the acting path's forward_one compute exactly what
    the allocating forward/backward compute (same kernels, same order): a speed-up, not another function.
    forward_one equals a one-row forward: NumPy does a one-row matmul as the vector-matrix product np.dot does."""
    rng = np.random.default_rng(seed)
    sizes = (n_in,) + (width,) * depth + (max(n_out, 2) if dueling else n_out,)
    net = MLP(sizes, activation, dtype, rng, head="dueling" if dueling else "linear")
    net.flat += (0.1 * rng.normal(size=net.n_params)).astype(dtype)
    x, g = rng.normal(size=(B, n_in)).astype(dtype), rng.normal(size=(B, sizes[-1])).astype(dtype)
    q, cache = net.forward(x)
    grads = net.backward(g, cache)[1].copy()
    for _ in range(2):                                # a second call reuses the arrays made by the first
        q_r, cache_r = net.forward(x, reuse=True)
        np.testing.assert_array_equal(q_r, q)
        for c, c_r in zip(cache, cache_r):
            np.testing.assert_array_equal(c_r, c)
        np.testing.assert_array_equal(net.backward(g, cache_r, reuse=True)[1], grads)
    for i in range(B):                                # acting: as a one-row forward (a B-row product may sum
        np.testing.assert_array_equal(net.forward_one(x[i]), net.forward(x[i:i + 1])[0][0])   # in another order)
    np.testing.assert_array_equal(net.forward_one(x[:1]), net.forward(x[:1])[0][0])   # (1, n_in) is one too
    with pytest.raises(ValueError):
        net.forward_one(np.zeros(n_in + 1, dtype))


def test_reuse_overwrites_the_last_output_as_documented():
    net = MLP((3, 4, 2), "tanh", np.float64, np.random.default_rng(0))
    a, b = np.ones((5, 3)), -np.ones((5, 3))
    qa = net.forward(a, reuse=True)[0]
    qa_copy = qa.copy()
    qb = net.forward(b, reuse=True)[0]
    assert qb is qa and not np.array_equal(qa, qa_copy)          # same array, new values
    assert net.forward(a, reuse=True)[0] is not net.forward(a[:2], reuse=True)[0]   # one set per batch size
