"""The Q heads (``nn/heads.py``): every registry entry's backward against central differences (float64, hypothesis
shapes) and its forward against ``policy.py``'s restatement; the dueling aggregation against a naive per-row
reference, identifiability, and the whole dueling network's gradient."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from numpy_ddqn import policy
from numpy_ddqn.nn import HEADS, MLP, check_mlp_gradients, numeric_grad
from numpy_ddqn.nn.heads import (dueling_atoms_backward, dueling_atoms_outputs, dueling_backward, dueling_forward,
                                  dueling_matrix)

shapes = dict(B=st.integers(1, 8), A=st.integers(1, 8), seed=st.integers(0, 2**32 - 1))


@given(**shapes)
def test_forward_matches_a_naive_loop(B, A, seed):
    rng = np.random.default_rng(seed)
    v, a = rng.normal(size=(B, 1)), rng.normal(size=(B, A))
    naive = np.array([[v[i, 0] + a[i, j] - sum(a[i]) / A for j in range(A)] for i in range(B)])
    np.testing.assert_allclose(dueling_forward(v, a), naive, rtol=1e-12, atol=1e-12)


@given(**shapes)
def test_backward_matches_finite_differences(B, A, seed):
    rng = np.random.default_rng(seed)
    v, a, g = rng.normal(size=(B, 1)), rng.normal(size=(B, A)), rng.normal(size=(B, A))
    dv, da = dueling_backward(g)
    num_dv = numeric_grad(lambda: np.sum(dueling_forward(v, a) * g), v)      # f reads v, a as perturbed
    num_da = numeric_grad(lambda: np.sum(dueling_forward(v, a) * g), a)
    np.testing.assert_allclose(dv, num_dv, rtol=1e-6, atol=1e-8, err_msg="dv: mine vs numeric")
    np.testing.assert_allclose(da, num_da, rtol=1e-6, atol=1e-8, err_msg="da: mine vs numeric")


@pytest.mark.parametrize("name", sorted(HEADS))
@given(B=st.integers(1, 8), A=st.integers(2, 8), seed=st.integers(0, 2**32 - 1))
def test_every_heads_backward_matches_finite_differences_and_policy_py_computes_its_forward(name, B, A, seed):
    head, rng = HEADS[name], np.random.default_rng(seed)
    out, g = rng.normal(size=(B, head.n_outputs(A))), rng.normal(size=(B, A))
    q = head.forward(out)
    assert q.shape == (B, A)
    if head.outputs is None:
        numeric = numeric_grad(lambda: np.sum(head.forward(out) * g), out)
        np.testing.assert_allclose(head.backward(g), numeric, rtol=1e-6, atol=1e-8, err_msg=f"{name}: mine vs numeric")
        np.testing.assert_array_equal(policy.HEADS[name](out), q)       # the standalone file's copy: same values
    else:    # a distributional head: backward takes d outputs (B, A, N); Q is the outputs' mean
        dist = head.outputs(out)
        g = rng.normal(size=dist.shape)
        assert dist.shape[:2] == (B, A)
        numeric = numeric_grad(lambda: np.sum(head.outputs(out) * g), out)
        np.testing.assert_allclose(head.backward(g), numeric, rtol=1e-6, atol=1e-8, err_msg=f"{name}: mine vs numeric")
        np.testing.assert_array_equal(head.mean(dist), q)
        np.testing.assert_allclose(policy.HEADS[name](out, **head.params), q, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(head.forward(out[0]), q[0])           # one observation: the last axis only


@given(**shapes, c=st.floats(-100, 100))
def test_a_constant_added_to_every_advantage_leaves_q_unchanged(B, A, seed, c):
    rng = np.random.default_rng(seed)
    v, a = rng.normal(size=(B, 1)), rng.normal(size=(B, A))
    np.testing.assert_allclose(dueling_forward(v, a + c), dueling_forward(v, a), atol=1e-9)


@given(B=st.integers(1, 6), n_in=st.integers(1, 5), hidden=st.lists(st.integers(1, 8), min_size=0, max_size=2),
       A=st.integers(2, 6), activation=st.sampled_from(["tanh", "relu", "identity"]), seed=st.integers(0, 2**32 - 1))
def test_the_dueling_network_gradient_end_to_end(B, n_in, hidden, A, activation, seed):
    rng = np.random.default_rng(seed)
    net = MLP((n_in, *hidden, A), activation, np.float64, rng, head="dueling")
    net.flat += 0.1 * rng.normal(size=net.n_params)              # non-zero biases too
    x = rng.normal(size=(B, n_in))
    if activation == "relu":                                      # stay away from the kinks
        h = x
        for i in range(net.n_layers - 1):
            z = h @ net.params[2 * i] + net.params[2 * i + 1]
            assume(np.min(np.abs(z)) > 1e-4)
            h = np.maximum(z, 0)
    assert net(x).shape == (B, A) and net.n_params == net.flat.size
    check = check_mlp_gradients(net, x, rng=rng)
    assert check.rel_error < 1e-6 or check.max_abs_error < 1e-8, check.report()


def test_one_action_is_refused():
    with pytest.raises(ValueError, match="at least 2 actions"):
        MLP((4, 8, 1), head="dueling")


@given(B=st.integers(1, 6), A=st.integers(1, 7), N=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_the_dueling_atoms_head_is_the_dueling_head_on_every_atom(B, A, N, seed):
    """Forward: the same values as ``dueling_forward`` per atom; backward: M^T dZ (M = [1 | I - 1/A]) against
    ``dueling_backward`` per atom, for one observation as for a batch."""
    rng = np.random.default_rng(seed)
    out, g = rng.normal(size=(B, (1 + A) * N)), rng.normal(size=(B, A, N))
    rows = out.reshape(B, 1 + A, N)
    np.testing.assert_array_equal(dueling_atoms_outputs(out, N), dueling_forward(rows[:, :1], rows[:, 1:], axis=-2))
    dv, da = dueling_backward(g, axis=-2)
    np.testing.assert_allclose(dueling_atoms_backward(g), np.concatenate((dv, da), axis=1).reshape(B, -1),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dueling_atoms_backward(g[0]), dueling_atoms_backward(g)[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dueling_matrix(A, np.float64) @ rows[0], dueling_atoms_outputs(out[0], N),
                               rtol=1e-12, atol=1e-12)
