"""The conv layer two ways: forward against a naive nested loop, backward against central differences (float64,
hypothesis-drawn batch sizes, image sizes, channels, kernels, strides and paddings); then the layer-list network's
full gradient (conv -> flatten -> dense -> Q, dueling too) end to end, and its plumbing."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from numpy_ddqn.nn import check_mlp_gradients, numeric_grad
from numpy_ddqn.nn.conv import conv2d_backward, conv2d_forward, conv2d_naive, conv_output_shape
from numpy_ddqn.nn.mlp import MLP
from numpy_ddqn.nn.network import Network, count_params, parse_layers

from test_layers_mlp import ATOL, RTOL, assert_grad_close

seeds = st.integers(0, 2**32 - 1)


@st.composite
def conv_cases(draw):
    """A batch, an image, a kernel that fits it, a stride and a padding."""
    padding = draw(st.sampled_from(["valid", "same"]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    H = draw(st.integers(kh if padding == "valid" else 1, 8))
    W = draw(st.integers(kw if padding == "valid" else 1, 8))
    return dict(B=draw(st.integers(1, 4)), H=H, W=W, c_in=draw(st.integers(1, 3)), c_out=draw(st.integers(1, 3)),
                kh=kh, kw=kw, stride=draw(st.integers(1, 3)), padding=padding, seed=draw(seeds))


def draw_arrays(case):
    rng = np.random.default_rng(case["seed"])
    x = rng.normal(size=(case["B"], case["H"], case["W"], case["c_in"]))
    Wt = rng.normal(size=(case["kh"], case["kw"], case["c_in"], case["c_out"]))
    return rng, x, Wt, rng.normal(size=case["c_out"])


@given(conv_cases())
def test_forward_matches_the_naive_nested_loop(case):
    _, x, W, b = draw_arrays(case)
    out, cols = conv2d_forward(x, W, b, case["stride"], case["padding"])
    h_out, w_out, _ = conv_output_shape(case["H"], case["W"], case["kh"], case["kw"], case["stride"], case["padding"])
    assert out.shape == (case["B"], h_out, w_out, case["c_out"])
    np.testing.assert_allclose(out, conv2d_naive(x, W, b, case["stride"], case["padding"]), rtol=1e-12, atol=1e-12,
                               err_msg="forward pass went wrong: im2col vs nested loops")
    assert cols.shape == (case["B"], h_out, w_out, case["kh"] * case["kw"] * case["c_in"])


@given(conv_cases())
def test_backward_matches_finite_differences(case):
    rng, x, W, b = draw_arrays(case)
    out, cols = conv2d_forward(x, W, b, case["stride"], case["padding"])
    g = rng.normal(size=out.shape)                                # random upstream gradient
    loss = lambda: float(np.sum(conv2d_naive(x, W, b, case["stride"], case["padding"]) * g))
    dx, dW, db = conv2d_backward(g, cols, W, x.shape, case["stride"], case["padding"])
    assert dx.shape == x.shape and dW.shape == W.shape and db.shape == b.shape
    assert_grad_close(dx, numeric_grad(loss, x), "conv dx")
    assert_grad_close(dW, numeric_grad(loss, W), "conv dW")
    assert_grad_close(db, numeric_grad(loss, b), "conv db")


def test_backward_writes_into_given_arrays_and_can_skip_dx():
    rng = np.random.default_rng(0)
    x, W, b = rng.normal(size=(2, 5, 5, 2)), rng.normal(size=(3, 3, 2, 4)), rng.normal(size=4)
    out, cols = conv2d_forward(x, W, b)
    g = rng.normal(size=out.shape)
    _, dW_ref, db_ref = conv2d_backward(g, cols, W, x.shape)
    dW, db = np.full_like(W, 7.0), np.full_like(b, 7.0)            # overwritten, never added to
    dx, dW2, db2 = conv2d_backward(g, cols, W, x.shape, dW=dW, db=db, need_dx=False)
    assert dx is None and dW2 is dW and db2 is db
    np.testing.assert_allclose(dW, dW_ref, rtol=1e-12)
    np.testing.assert_allclose(db, db_ref, rtol=1e-12)


def test_same_padding_keeps_the_size_at_stride_1_and_divides_it_at_stride_2():
    assert conv_output_shape(10, 10, 3, 3, 1, "same")[:2] == (10, 10)
    assert conv_output_shape(10, 9, 3, 3, 2, "same")[:2] == (5, 5)
    assert conv_output_shape(10, 10, 3, 3, 1, "valid")[:2] == (8, 8)     # MinAtar: 10x10 -> 8x8
    with pytest.raises(ValueError, match="does not fit"):
        conv_output_shape(2, 5, 3, 3)


# -- the network of layers -----------------------------------------------------------------------


def relu_kinks_far(net, x):
    """True when no pre-activation of a ReLU is within 1e-4 of 0 (central differences straddle the kink there)."""
    pre = []
    y = np.asarray(x, np.float64).reshape((x.shape[0], *net.input_shape))
    for op in net.ops:                            # replay the forward, keeping each ReLU's input
        kind = op.layer.kind
        if kind == "conv":
            y, _ = conv2d_forward(y, net.params[2 * op.param], net.params[2 * op.param + 1], op.layer.stride,
                                  op.layer.padding)
        elif kind == "dense":
            y = y @ net.params[2 * op.param] + net.params[2 * op.param + 1]
        elif kind == "flatten":
            y = y.reshape(y.shape[0], -1)
        else:
            if kind == "relu":
                pre.append(y.copy())
            y = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "identity": lambda z: z}[kind](y)
    return all(np.min(np.abs(z)) > 1e-4 for z in pre if z.size)


@st.composite
def networks(draw):
    """A small image network: 1-2 convs (any stride/padding that fits), activations, flatten, 0-1 dense, a head."""
    H, W, C = draw(st.integers(3, 7)), draw(st.integers(3, 7)), draw(st.integers(1, 3))
    act = st.sampled_from(["relu", "tanh", "identity"])
    layers, h, w = [], H, W
    for _ in range(draw(st.integers(1, 2))):
        k, s, pad = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.sampled_from(["valid", "same"]))
        if pad == "valid" and (k > h or k > w):
            pad = "same"
        h_out, w_out, _ = conv_output_shape(h, w, k, k, s, pad)
        layers += [f"conv{draw(st.integers(1, 3))}x{k}" + (f"s{s}" if s > 1 else "") + ("same" if pad == "same" else ""),
                   draw(act)]
        h, w = h_out, w_out
    if draw(st.booleans()):
        layers.append("flatten")
    if draw(st.booleans()):
        layers += [f"dense{draw(st.integers(1, 6))}", draw(act)]
    return dict(shape=(H, W, C), layers=",".join(layers), A=draw(st.integers(2, 4)), dueling=draw(st.booleans()),
                B=draw(st.integers(1, 4)), seed=draw(seeds))


@given(networks())
def test_network_gradient_end_to_end_matches_finite_differences(case):
    """conv -> ... -> flatten -> dense -> Q (or the dueling head): every parameter's gradient at once."""
    rng = np.random.default_rng(case["seed"])
    net = Network(case["shape"], case["layers"], case["A"], case["dueling"], np.float64, rng)
    net.flat += 0.1 * rng.normal(size=net.n_params)               # non-zero biases too
    x = rng.normal(size=(case["B"], *case["shape"]))
    assume(relu_kinks_far(net, x))
    result = check_mlp_gradients(net, x, rng=rng)
    if not np.allclose(result.analytic, result.numeric, rtol=RTOL, atol=ATOL):
        raise AssertionError(f"backward pass went wrong for {net!r} (mine vs numeric):\n" + result.report())


def test_minatar_reference_network_gradient_and_shapes():
    """The MinAtar network itself, conv16x3 -> 128 -> 3 on (10, 10, 4), checked on a sample of its parameters."""
    rng = np.random.default_rng(0)
    net = Network((10, 10, 4), "conv16x3,relu,flatten,dense128,relu", 3, dtype=np.float64, rng=rng)
    assert [p.shape for p in net.params] == [(3, 3, 4, 16), (16,), (1024, 128), (128,), (128, 3), (3,)]
    assert net.n_params == 3 * 3 * 4 * 16 + 16 + 1024 * 128 + 128 + 128 * 3 + 3
    assert count_params("conv16x3,relu,flatten,dense128,relu", (10, 10, 4), 3) == net.n_params
    x = (rng.random((3, 10, 10, 4)) < 0.2).astype(np.float64)       # 0/1 frames, as MinAtar's
    g = rng.normal(size=(3, 3))
    _, cache = net.forward(x)
    _, flat_grad = net.backward(g, cache)
    loss = lambda: float(np.sum(net(x) * g))
    for i in rng.choice(net.n_params, 60, replace=False):       # a sample: all 133k would take minutes
        view = net.flat[i:i + 1]
        num = numeric_grad(loss, view)[0]
        assert abs(flat_grad[i] - num) <= ATOL + RTOL * abs(num), f"param {i}: mine {flat_grad[i]} vs numeric {num}"


def test_dense_only_layers_compute_the_same_function_as_the_mlp():
    rng = np.random.default_rng(1)
    net = Network((4,), "dense8,tanh,dense8,tanh", 2, dtype=np.float64)
    mlp = MLP((4, 8, 8, 2), "tanh", np.float64)
    net.flat[...] = rng.normal(size=net.n_params)
    mlp.set_weights(net.get_weights())
    x, g = rng.normal(size=(5, 4)), rng.normal(size=(5, 2))
    np.testing.assert_allclose(net(x), mlp(x), rtol=1e-12)
    np.testing.assert_allclose(net.backward(g, net.forward(x)[1])[1], mlp.backward(g, mlp.forward(x)[1])[1], rtol=1e-12)


def test_input_is_cast_per_batch_and_flat_batches_are_accepted():
    net = Network((4, 4, 2), "conv3x2,relu", 3, dtype=np.float32, rng=np.random.default_rng(0))
    frames = np.random.default_rng(1).random((5, 4, 4, 2)) < 0.5    # bool frames
    q = net(frames)
    assert q.dtype == np.float32 and q.shape == (5, 3)
    np.testing.assert_array_equal(net(frames.reshape(5, -1)), q)
    np.testing.assert_array_equal(net(frames.astype(np.uint8)), q)
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 4, 4, 2\)"):
        net(np.zeros((5, 4, 4, 3)))


def test_backward_overwrites_a_reused_buffer_and_the_cache_can_be_sliced_to_a_batch_half():
    """The agent runs s and s' as one batch and keeps the first half of every cache entry."""
    rng = np.random.default_rng(2)
    net = Network((6, 6, 2), "conv4x3,relu,flatten,dense8,relu", 3, dtype=np.float64, rng=rng)
    x, g = rng.normal(size=(8, 6, 6, 2)), rng.normal(size=(4, 3))
    _, cache = net.forward(x)
    buffer = np.full(net.n_params, 5.0)
    net.backward(g, [c[:4] for c in cache], out=buffer)
    np.testing.assert_allclose(buffer, net.backward(g, net.forward(x[:4])[1])[1], rtol=1e-12)


def test_target_sync_and_weights_round_trip():
    a = Network((5, 5, 1), "conv2x3,relu", 2, rng=np.random.default_rng(0))
    b = Network((5, 5, 1), "conv2x3,relu", 2, rng=np.random.default_rng(1))
    b.copy_from(a)
    np.testing.assert_array_equal(a.flat, b.flat)
    b.set_weights([w + 1 for w in a.get_weights()])
    b.polyak_from(a, 0.5)
    np.testing.assert_allclose(b.flat, a.flat + 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="network mismatch"):
        b.copy_from(Network((5, 5, 1), "conv3x3,relu", 2))


@pytest.mark.parametrize("text, message", [
    ("conv16x3,relu,pool", "unknown layer 'pool'"),
    ("conv0x3", "must be >= 1"),
    ("dense0", ">= 1 units"),
    ("relu,flatten", "no conv or dense layer"),
    ("conv16", "unknown layer 'conv16'"),
])
def test_bad_layer_lists_are_refused_in_one_line(text, message):
    with pytest.raises(ValueError, match=message):
        parse_layers(text)


def test_layers_that_do_not_fit_the_input_are_refused():
    with pytest.raises(ValueError, match="needs image input"):
        Network((8,), "conv4x3,relu", 2)
    with pytest.raises(ValueError, match="does not fit"):
        Network((2, 2, 1), "conv4x3,relu", 2)
    assert str(parse_layers("conv32x4s2same")[0]) == "conv32x4s2same"
