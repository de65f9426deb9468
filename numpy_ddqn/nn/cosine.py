"""IQN's quantile embedding (Dabney, Ostrovski, Silver & Munos 2018, "Implicit Quantile Networks", eq. 4).

    phi(tau) = ReLU(sum_{j=1..n_cos} cos(pi j tau) w_j + b),     h = psi(s) * phi(tau)   (Hadamard product)

A sampled quantile level tau in [0, 1] becomes n_cos cosine features, a linear layer and a ReLU map them
to the width H of the state features psi(s), and the product mixes the two; the rest of the network
then reads the (B * N, H) rows as if each (state, tau) pair were a sample.

Indexing: j = 1..n_cos. The paper's eq. 4 writes j = 0..n-1, but j = 0 gives cos(0) = 1 for every tau, a
constant feature the bias b already provides; PFRL's iqn.py notes that the authors confirmed j = 1..n,
and Dopamine's implicit-quantile network uses the same range. ``params = {"W": (n_cos, H), "b": (H,)}``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .layers import linear_backward, linear_forward


@lru_cache(maxsize=16)
def frequencies(n_cos, dtype):                       # -> (n_cos,) read-only: pi * [1, 2, ..., n_cos]
    """pi j for j = 1..n_cos (cached; read-only)."""
    v = (np.pi * np.arange(1, n_cos + 1)).astype(dtype)
    v.flags.writeable = False
    return v


def init_cosine_embedding(n_cos, n_features, rng, dtype=np.float32):   # -> {"W": (n_cos, H), "b": (H,)}
    """W ~ U[-1/sqrt(n_cos), 1/sqrt(n_cos)], b = 0 (the fan-in uniform init of a linear layer)."""
    bound = 1.0 / np.sqrt(n_cos)
    return {"W": rng.uniform(-bound, bound, (n_cos, n_features)).astype(dtype), "b": np.zeros(n_features, dtype)}


def cosine_embedding_forward(tau, params):           # tau: (B, N) -> phi: (B, N, H), cache
    """phi(tau) = ReLU(sum_{j=1..n_cos} cos(pi j tau) w_j + b), for every sampled tau of every sample."""
    W, b = params["W"], params["b"]
    if getattr(tau, "ndim", 0) != 2:
        raise ValueError(f"tau must have shape (B, N), got {np.shape(tau)}")
    if W.ndim != 2 or b.shape != W.shape[1:]:
        raise ValueError(f"cosine embedding W must be (n_cos, H) and b (H,), got {W.shape} and {b.shape}")
    B, N = tau.shape
    n_cos, H = W.shape
    features = tau.reshape(B * N, 1) * frequencies(n_cos, tau.dtype)   # (B*N, n_cos): pi j tau
    np.cos(features, out=features)                                    # (B*N, n_cos): cos(pi j tau)
    z = linear_forward(features, W, b)                                # (B*N, H)
    phi = np.maximum(z, 0.0, out=z)                                   # (B*N, H)
    return phi.reshape(B, N, H), (tau, features, W, phi)


def cosine_embedding_backward(dphi, cache, need_dtau=False):   # dphi: (B, N, H) -> dtau: (B, N) or None, grads
    """dz = dphi [z > 0]; dW = cos(pi j tau).T @ dz, db = sum dz; dtau = sum_j -(dz @ W.T)_j sin(pi j tau) pi j.

    IQN samples tau and never learns it, so ``dtau`` is computed only with ``need_dtau=True`` (FQF would).
    """
    tau, features, W, phi = cache
    B, N, H = dphi.shape
    dz = dphi.reshape(B * N, H) * (phi > 0)                           # (B*N, H); ReLU'(0) taken as 0
    dfeatures, dW, db = linear_backward(dz, features, W, need_dx=need_dtau)   # (B*N, n_cos), (n_cos, H), (H,)
    dtau = None
    if need_dtau:
        freq = frequencies(W.shape[0], tau.dtype)                     # (n_cos,): pi j
        dangle = -dfeatures * np.sin(tau.reshape(B * N, 1) * freq)    # (B*N, n_cos): d cos(a) = -sin(a) da
        dtau = (dangle @ freq).reshape(B, N)                          # da/dtau = pi j
    return dtau, {"W": dW, "b": db}


def hadamard_forward(psi, phi):                      # psi: (B, H), phi: (B, N, H) -> h: (B, N, H), cache
    """h_{b,n} = psi_b * phi_{b,n}: each state's features times each of its quantile embeddings."""
    if getattr(psi, "ndim", 0) != 2 or getattr(phi, "ndim", 0) != 3 or phi.shape[::2] != psi.shape:
        raise ValueError(f"psi must be (B, H) and phi (B, N, H) with the same B and H, got "
                         f"{np.shape(psi)} and {np.shape(phi)}")
    return psi[:, np.newaxis, :] * phi, (psi, phi)


def hadamard_backward(dh, cache):                    # dh: (B, N, H) -> dpsi: (B, H), dphi: (B, N, H)
    """dpsi = sum_n dh_n * phi_n (psi is shared by the N rows); dphi = dh * psi."""
    psi, phi = cache
    return np.einsum("bnh,bnh->bh", dh, phi), dh * psi[:, np.newaxis, :]
