"""IQN's cosine embedding and the Hadamard mix: forward against eq. 4 term by term, backward against
float64 central differences."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gradients import check_grad
from numpy_ddqn.nn.cosine import (cosine_embedding_backward, cosine_embedding_forward, hadamard_backward,
                                  hadamard_forward, init_cosine_embedding)

seeds = st.integers(0, 2**32 - 1)
shapes = dict(B=st.integers(1, 4), N=st.integers(1, 5), n_cos=st.integers(1, 8), H=st.integers(1, 6), seed=seeds)


def draw(B, N, n_cos, H, seed):
    rng = np.random.default_rng(seed)
    params = init_cosine_embedding(n_cos, H, rng, dtype=np.float64)
    params["b"] += 0.3 * rng.normal(size=H)
    return params, rng.random((B, N)), rng.normal(size=(B, N, H)), rng


@given(**shapes)
def test_cosine_embedding_is_eq4_with_j_from_1(B, N, n_cos, H, seed):
    params, tau, _, _ = draw(B, N, n_cos, H, seed)
    phi, _ = cosine_embedding_forward(tau, params)
    assert phi.shape == (B, N, H)
    for b in range(B):
        for n in range(N):
            for h in range(H):
                z = sum(np.cos(np.pi * j * tau[b, n]) * params["W"][j - 1, h] for j in range(1, n_cos + 1))
                assert phi[b, n, h] == pytest.approx(max(z + params["b"][h], 0.0), rel=1e-10, abs=1e-12)


@given(**shapes)
def test_cosine_embedding_backward_matches_finite_differences(B, N, n_cos, H, seed):
    params, tau, g, _ = draw(B, N, n_cos, H, seed)
    z = np.cos(np.pi * np.arange(1, n_cos + 1) * tau[..., None]) @ params["W"] + params["b"]
    assume(np.min(np.abs(z)) > 1e-4)                                # keep away from the ReLU's kink
    loss = lambda: float(np.sum(cosine_embedding_forward(tau, params)[0] * g))
    dtau, grads = cosine_embedding_backward(g, cosine_embedding_forward(tau, params)[1], need_dtau=True)
    check_grad(loss, params["W"], grads["W"], "dW")
    check_grad(loss, params["b"], grads["b"], "db")
    check_grad(loss, tau, dtau, "dtau")
    assert cosine_embedding_backward(g, cosine_embedding_forward(tau, params)[1])[0] is None


@given(B=st.integers(1, 4), N=st.integers(1, 5), H=st.integers(1, 6), seed=seeds)
def test_hadamard_backward_matches_finite_differences(B, N, H, seed):
    rng = np.random.default_rng(seed)
    psi, phi, g = rng.normal(size=(B, H)), rng.normal(size=(B, N, H)), rng.normal(size=(B, N, H))
    h, cache = hadamard_forward(psi, phi)
    for b in range(B):                                              # forward: each of the N rows times psi_b
        for n in range(N):
            np.testing.assert_allclose(h[b, n], psi[b] * phi[b, n])
    loss = lambda: float(np.sum(hadamard_forward(psi, phi)[0] * g))
    dpsi, dphi = hadamard_backward(g, cache)
    check_grad(loss, psi, dpsi, "dpsi")
    check_grad(loss, phi, dphi, "dphi")


def test_embedding_then_mix_backward_end_to_end():
    """The IQN block psi(s) * phi(tau) as one function: chain the two backwards, check W, b and psi."""
    params, tau, g, rng = draw(3, 4, 6, 5, 11)
    psi = rng.normal(size=(3, 5))

    def block():
        return float(np.sum(hadamard_forward(psi, cosine_embedding_forward(tau, params)[0])[0] * g))
    phi, c_phi = cosine_embedding_forward(tau, params)
    _, c_mix = hadamard_forward(psi, phi)
    dpsi, dphi = hadamard_backward(g, c_mix)
    _, grads = cosine_embedding_backward(dphi, c_phi)
    check_grad(block, psi, dpsi, "dpsi")
    check_grad(block, params["W"], grads["W"], "dW")
    check_grad(block, params["b"], grads["b"], "db")


def test_float32_and_bad_shapes():
    params = init_cosine_embedding(64, 64, np.random.default_rng(0))
    tau = np.random.default_rng(1).random((64, 8), dtype=np.float32)
    phi, _ = cosine_embedding_forward(tau, params)
    assert phi.dtype == np.float32 and phi.shape == (64, 8, 64)
    with pytest.raises(ValueError, match=r"tau must have shape \(B, N\)"):
        cosine_embedding_forward(tau[0], params)
    with pytest.raises(ValueError, match="psi must be"):
        hadamard_forward(np.zeros((64, 32)), phi)
