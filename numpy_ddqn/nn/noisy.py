"""The factorised-Gaussian noisy linear layer (Fortunato et al. 2018, "Noisy Networks for Exploration").

    y = x @ (mu_W + sigma_W * eps_W) + (mu_b + sigma_b * eps_b),
    eps_W = f(eps_in) outer f(eps_out),  eps_b = f(eps_out),  f(e) = sign(e) sqrt|e|,  eps_in, eps_out ~ N(0, 1)

The weights are the learned mean plus a learned, per-weight scale of noise, so the network learns how
much to explore, state by state. Factorised noise draws only n_in + n_out normals per layer (section
3.1). ``params = {"mu_W": (n_in, n_out), "sigma_W": (n_in, n_out), "mu_b": (n_out,), "sigma_b": (n_out,)}``;
``noise = {"eps_W": (n_in, n_out), "eps_b": (n_out,)}`` is drawn by ``sample_noise`` and held fixed
through forward and backward (the gradient is taken for one draw, as in the paper's Algorithm 1).
Greedy evaluation and exported policies use the mean weights: ``noisy_linear_mean_forward``.
"""
from __future__ import annotations

import numpy as np

from .layers import linear_backward, linear_forward


def init_noisy_linear(n_in, n_out, rng, sigma0=0.5, dtype=np.float32):   # -> params of (n_in, n_out)
    """mu ~ U[-1/sqrt(n_in), 1/sqrt(n_in)], sigma = sigma0 / sqrt(n_in)   (factorised init, section 3.2)."""
    if int(n_in) < 1 or int(n_out) < 1:
        raise ValueError(f"a noisy linear layer needs n_in, n_out >= 1, got ({n_in}, {n_out})")
    if not sigma0 >= 0:
        raise ValueError(f"sigma0 must be >= 0, got {sigma0}")
    bound = 1.0 / np.sqrt(n_in)
    return {"mu_W": rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype),
            "sigma_W": np.full((n_in, n_out), sigma0 * bound, dtype),
            "mu_b": rng.uniform(-bound, bound, n_out).astype(dtype),
            "sigma_b": np.full(n_out, sigma0 * bound, dtype)}


def scaled_noise(e):                                  # e: any shape -> same shape
    """f(e) = sign(e) sqrt|e|, the factorised noise's transform."""
    return np.copysign(np.sqrt(np.abs(e)), e)


def sample_noise(n_in, n_out, rng, dtype=np.float32):   # -> {"eps_W": (n_in, n_out), "eps_b": (n_out,)}
    """eps_W = f(eps_in) outer f(eps_out), eps_b = f(eps_out): one Generator call of n_in + n_out normals
    (drawn in ``dtype``, float32 or float64: the two draw different streams from the same seed)."""
    e = scaled_noise(rng.standard_normal(n_in + n_out, dtype=dtype))   # (n_in + n_out,)
    f_in, f_out = e[:n_in], e[n_in:]
    return {"eps_W": np.outer(f_in, f_out), "eps_b": f_out}


def check_noisy(x, params, noise=None):
    """Raise ``ValueError`` unless x is (B, n_in) and the parameters (and noise) fit (n_in, n_out)."""
    W = params["mu_W"]
    if getattr(x, "ndim", 0) != 2 or x.shape[1] != W.shape[0]:
        raise ValueError(f"noisy linear input must have shape (B, {W.shape[0]}), got {np.shape(x)}")
    shapes = {"sigma_W": W.shape, "mu_b": W.shape[1:], "sigma_b": W.shape[1:]}
    if noise is not None:
        shapes_noise = {"eps_W": W.shape, "eps_b": W.shape[1:]}
        bad = [k for k, s in shapes_noise.items() if noise[k].shape != s]
        if bad:
            raise ValueError(f"noise {bad[0]} must have shape {shapes_noise[bad[0]]}, got {noise[bad[0]].shape}")
    bad = [k for k, s in shapes.items() if params[k].shape != s]
    if bad:
        raise ValueError(f"noisy linear {bad[0]} must have shape {shapes[bad[0]]}, got {params[bad[0]].shape}")


def noisy_linear_forward(x, params, noise):          # x: (B, n_in) -> y: (B, n_out), cache
    """y = x @ (mu_W + sigma_W * eps_W) + (mu_b + sigma_b * eps_b), the noise held fixed."""
    check_noisy(x, params, noise)
    W = params["mu_W"] + params["sigma_W"] * noise["eps_W"]     # (n_in, n_out), this draw's weights
    b = params["mu_b"] + params["sigma_b"] * noise["eps_b"]     # (n_out,)
    return linear_forward(x, W, b), (x, W, noise)


def noisy_linear_backward(dy, cache, need_dx=True):  # dy: (B, n_out) -> dx: (B, n_in), grads like params
    """dW = x.T @ dy, db = sum_batch dy; then dmu_W = dW, dsigma_W = dW * eps_W, dmu_b = db, dsigma_b = db * eps_b."""
    x, W, noise = cache
    dx, dW, db = linear_backward(dy, x, W, need_dx=need_dx)
    return dx, {"mu_W": dW, "sigma_W": dW * noise["eps_W"], "mu_b": db, "sigma_b": db * noise["eps_b"]}


def noisy_linear_mean_forward(x, params):            # x: (B, n_in) -> y: (B, n_out)
    """y = x @ mu_W + mu_b: the layer without its noise (greedy evaluation and the exported policy)."""
    check_noisy(x, params)
    return linear_forward(x, params["mu_W"], params["mu_b"])



class FactorisedNoise:
    """Draws the factorised noise of a network's layers into arrays it keeps: the training step's way.

    ``blocks`` are each layer's ``[eps_W; eps_b]`` as one ``(n_in + 1, n_out)`` array (``eps_W`` its first n_in
    rows, ``eps_b`` its last), which is the outer product ``[f(eps_in); 1] f(eps_out)^T``. ``draw(rng)`` takes
    ``sum(n_in + 1 + n_out)`` normals in one call, layer by layer ``eps_in, (one unused), eps_out``, sets the
    unused one to 1 after the transform f, and writes each block with one product: no allocation, no slicing.
    """

    def __init__(self, blocks, dtype=np.float32):
        self.e = np.empty(sum(b.shape[0] + b.shape[1] for b in blocks), dtype)   # (sum(n_in + 1 + n_out),)
        self._tmp = np.empty_like(self.e)
        self._products, ones, start = [], [], 0
        for block in blocks:
            if block.dtype != self.e.dtype or not (block.flags.c_contiguous and block.flags.writeable):
                raise ValueError(f"noise blocks must be writeable C-contiguous {self.e.dtype} arrays, got a "
                                 f"{block.shape} {block.dtype} array (C-contiguous: {block.flags.c_contiguous}, "
                                 f"writeable: {block.flags.writeable})")
            rows, n_out = block.shape                                  # rows = n_in + 1
            self._products.append((self.e[start:start + rows, np.newaxis],
                                   self.e[np.newaxis, start + rows:start + rows + n_out],
                                   block))                             # (n_in + 1, 1) @ (1, n_out) -> block
            ones.append(start + rows - 1)
            start += rows + n_out
        self._ones = np.array(ones)

    def draw(self, rng):
        """New noise in every block, from one call of ``rng``."""
        e, tmp = self.e, self._tmp
        rng.standard_normal(dtype=e.dtype, out=e)
        np.abs(e, out=tmp)                        # f(e) = sign(e) sqrt|e|, in place
        np.sqrt(tmp, out=tmp)
        np.copysign(tmp, e, out=e)
        e[self._ones] = 1.0                       # the bias row: eps_b = 1 * f(eps_out)
        for column, row, block in self._products:
            np.dot(column, row, out=block)        # the outer product, ~half np.multiply's broadcast time (the same
                                                  # values; a zero product is +0.0 where multiply could give -0.0)
