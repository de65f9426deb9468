"""TD losses: values against their definitions, gradients against finite differences."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numpy_ddqn.nn import huber, mse, numeric_grad, td_loss


@given(B=st.integers(1, 8), A=st.integers(1, 5), seed=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(["huber", "mse"]), scale=st.sampled_from([0.1, 1.0, 5.0]))
def test_td_loss_gradient_matches_finite_differences(B, A, seed, kind, scale):
    rng = np.random.default_rng(seed)
    q, targets = scale * rng.normal(size=(B, A)), scale * rng.normal(size=B)
    actions = rng.integers(0, A, size=B)
    td = q[np.arange(B), actions] - targets
    if kind == "huber":                               # keep the kink at |td| = 1 out of reach
        q[np.arange(B), actions] += np.where(np.abs(np.abs(td) - 1) < 1e-3, 0.01, 0.0)
    loss, dq, td_error = td_loss(q, actions, targets, kind)
    numeric = numeric_grad(lambda: td_loss(q, actions, targets, kind)[0], q)
    np.testing.assert_allclose(dq, numeric, rtol=1e-5, atol=1e-8,
                               err_msg=f"mine vs numeric for {kind}")
    mask = np.ones((B, A), bool)
    mask[np.arange(B), actions] = False
    assert np.all(dq[mask] == 0), "gradient must be zero at actions not taken"
    np.testing.assert_allclose(td_error, q[np.arange(B), actions] - targets)


def test_huber_is_half_square_inside_and_linear_outside():
    td = np.array([-3.0, -1.0, -0.5, 0.0, 0.25, 1.0, 2.0])
    per_item = np.where(np.abs(td) <= 1, 0.5 * td ** 2, np.abs(td) - 0.5)
    loss, d = huber(td)
    assert loss == pytest.approx(per_item.mean(), rel=1e-12)
    np.testing.assert_allclose(d, np.clip(td, -1, 1) / len(td))
    # linear outside: moving from 2 to 3 adds exactly 1 (per item)
    assert huber(np.array([3.0]))[0] - huber(np.array([2.0]))[0] == pytest.approx(1.0)


def test_huber_equals_torch_smooth_l1_definition():
    """PyTorch smooth_l1_loss(beta=1, mean) = mean(0.5 x^2 if |x| < 1 else |x| - 0.5)."""
    td = np.random.default_rng(0).normal(scale=2.0, size=50)
    expected = np.mean(np.where(np.abs(td) < 1, 0.5 * td ** 2, np.abs(td) - 0.5))
    assert huber(td)[0] == pytest.approx(expected, rel=1e-12)


def test_mse_is_mean_square():
    td = np.array([1.0, -2.0, 3.0])
    loss, d = mse(td)
    assert loss == pytest.approx(14 / 3)
    np.testing.assert_allclose(d, 2 * td / 3)


def test_float32_losses_stay_float32():
    q = np.ones((4, 2), np.float32)
    _, dq, td = td_loss(q, np.array([0, 1, 0, 1]), np.zeros(4, np.float32))
    assert dq.dtype == np.float32 and td.dtype == np.float32


def test_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="huber"):
        td_loss(np.zeros((1, 2)), np.array([0]), np.zeros(1), "l1")
