"""Optimizers: exact update rules, hand-computed two-step cases, convergence, exact state restore."""
import numpy as np
import pytest

from numpy_ddqn.nn import MLP, SGD, Adam, clip_grad_norm, global_norm, td_loss

G1, G2 = np.array([1.0, -2.0]), np.array([0.5, 0.5])


def two_steps(opt):
    p = np.array([1.0, 1.0])
    opt.step(p, G1.copy())
    opt.step(p, G2.copy())
    return p


def test_plain_sgd_is_exactly_p_minus_lr_g():
    rng = np.random.default_rng(0)
    p, g = rng.normal(size=10), rng.normal(size=10)
    expected = p - 0.1 * g
    SGD(0.1).step(p, g)
    np.testing.assert_array_equal(p, expected)


def test_momentum_two_steps_by_hand():
    # v1 = g1 = [1, -2]; p1 = [0.9, 1.2]; v2 = 0.9 v1 + g2 = [1.4, -1.3]; p2 = p1 - 0.1 v2
    np.testing.assert_allclose(two_steps(SGD(0.1, momentum=0.9)), [0.76, 1.33])


def test_nesterov_two_steps_by_hand():
    # p1 = p0 - 0.1 (g1 + 0.9 v1) = 1 - 0.1 * 1.9 g1 = [0.81, 1.38]
    # v2 = [1.4, -1.3]; p2 = p1 - 0.1 (g2 + 0.9 v2) = [0.81 - 0.176, 1.38 + 0.067]
    np.testing.assert_allclose(two_steps(SGD(0.1, momentum=0.9, nesterov=True)), [0.634, 1.447])


def test_adam_two_steps_by_hand():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    p, m, v = np.array([1.0, 1.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate([G1, G2], start=1):                       # the textbook rule, unfused
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(two_steps(Adam(lr, b1, b2, eps)), p, rtol=1e-12)
    # first Adam step moves every coordinate by lr * sign(g)
    q = np.array([1.0, 1.0])
    Adam(lr).step(q, G1.copy())
    np.testing.assert_allclose(q, 1.0 - lr * np.sign(G1), rtol=1e-6)


@pytest.mark.parametrize("make, bound", [
    (lambda: SGD(0.05), 0.02),
    (lambda: SGD(0.02, momentum=0.9), 0.02),
    (lambda: SGD(0.02, momentum=0.9, nesterov=True), 0.02),
    (lambda: Adam(0.01), 0.02),
])
def test_each_optimizer_fits_a_small_regression(make, bound):
    """y = sin(3x) on [-1, 1] with a 1-16-1 tanh net: the MSE falls below a stated bound."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, 1))
    y = np.sin(3 * x[:, 0])
    net, opt = MLP((1, 16, 1), "tanh", np.float64, rng), make()
    actions = np.zeros(64, dtype=np.int64)
    first = None
    for _ in range(3000):
        q, cache = net.forward(x)
        loss, dq, _ = td_loss(q, actions, y, "mse")
        first = loss if first is None else first
        opt.step(net.flat, net.backward(dq, cache)[1])
    assert loss < bound < first, f"loss {first:.3f} -> {loss:.4f}"


@pytest.mark.parametrize("make", [lambda: SGD(0.1), lambda: SGD(0.1, 0.9), lambda: SGD(0.1, 0.9, True),
                                  lambda: Adam(0.01)])
def test_restored_state_continues_exactly(make):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=7) for _ in range(6)]
    p_ref, ref = np.ones(7), make()
    for g in grads:
        ref.step(p_ref, g)
    p, first = np.ones(7), make()
    for g in grads[:3]:
        first.step(p, g)
    state = first.state_dict()
    first.step(np.ones(7), rng.normal(size=7))                      # mutate after saving: no aliasing
    resumed = make()
    resumed.lr = 123.0                                               # overwritten by the load
    resumed.load_state_dict(state)
    for g in grads[3:]:
        resumed.step(p, g)
    np.testing.assert_array_equal(p, p_ref)


def test_state_of_another_optimizer_is_refused():
    with pytest.raises(ValueError, match="adam"):
        SGD(0.1).load_state_dict(Adam().state_dict())


@pytest.mark.parametrize("opt", [SGD(0.1), SGD(0.1, 0.9, True), Adam(0.01)])
def test_float32_params_stay_float32(opt):
    p, g = np.ones(5, np.float32), np.full(5, 0.5, np.float32)
    for _ in range(2):
        opt.step(p, g)
    assert p.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state_dict().values() if isinstance(v, np.ndarray))


def test_clip_grad_norm():
    g = np.array([3.0, 4.0])
    assert clip_grad_norm(g, 10.0) == 5.0 and np.array_equal(g, [3.0, 4.0])
    assert clip_grad_norm(g, 1.0) == 5.0
    assert global_norm(g) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("bad", [lambda: SGD(0), lambda: SGD(0.1, momentum=1.0),
                                 lambda: SGD(0.1, nesterov=True), lambda: Adam(-1.0),
                                 lambda: Adam(0.1, beta1=1.0), lambda: Adam(0.1, eps=0)])
def test_bad_hyperparameters_are_refused(bad):
    with pytest.raises(ValueError):
        bad()
