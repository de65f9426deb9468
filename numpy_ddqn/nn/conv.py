"""2-D convolution as a pure forward/backward pair (im2col + one matrix product), NumPy only.

Memory layout: NHWC, as MinAtar and Gymnasium's image spaces give it.

    x: (B, H, W, C_in)   W: (kh, kw, C_in, C_out)   b: (C_out,)   out: (B, H_out, W_out, C_out)

    out[n, i, j, f] = b[f] + sum_{p, q, c} xpad[n, i*s + p, j*s + q, c] * W[p, q, c, f]

where ``xpad`` is ``x`` padded with zeros ("valid": no padding; "same": ``H_out = ceil(H / s)``, the
padding split as TensorFlow does, the extra row or column after). With the windows laid out as rows,
``cols[n, i, j, :] = xpad[n, i*s : i*s + kh, j*s : j*s + kw, :].ravel()``, the convolution is the dense
layer's product ``out = cols @ W.reshape(kh * kw * C_in, C_out) + b``, and so is its backward:

    dW = colsᵀ dout,   db = 1ᵀ dout,   dcols = dout Wᵀ,   dx = col2im(dcols)

``col2im`` adds each window's gradient back onto the pixels it was read from: one product and one strided
addition per kernel offset (kh * kw of them), never a loop over the batch or the output pixels.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layers import ones

PADDINGS = ("valid", "same")


def conv_output_shape(h, w, kh, kw, stride=1, padding="valid"):
    """``(H_out, W_out, (top, bottom, left, right))``: the output size and the zero padding of each side."""
    if padding == "valid":
        if h < kh or w < kw:
            raise ValueError(f"a {kh}x{kw} kernel does not fit a {h}x{w} input with 'valid' padding")
        return (h - kh) // stride + 1, (w - kw) // stride + 1, (0, 0, 0, 0)
    if padding != "same":
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    h_out, w_out = -(-h // stride), -(-w // stride)                      # ceil(H / s)
    pad_h = max((h_out - 1) * stride + kh - h, 0)
    pad_w = max((w_out - 1) * stride + kw - w, 0)
    return h_out, w_out, (pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2)


def im2col(x, kh, kw, stride=1, padding="valid"):  # x: (B, H, W, C) -> cols: (B, H_out, W_out, kh*kw*C)
    """The receptive field of every output pixel as one row: ``cols[n, i, j] = xpad[n, i*s:i*s+kh, j*s:j*s+kw, :]``."""
    B, H, W, C = x.shape
    h_out, w_out, (top, bottom, left, right) = conv_output_shape(H, W, kh, kw, stride, padding)
    if top or bottom or left or right:
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    rows = np.ascontiguousarray(x).reshape(B, x.shape[1], x.shape[2] * C)    # (B, Hp, Wp*C): a pixel row is contiguous
    # windows of kh rows x (kw*C) values, starting at every s-th row and every s-th pixel (every s*C-th value):
    # each window row is kw*C contiguous values, so the copy below moves runs of kw*C, not of C
    windows = sliding_window_view(rows, (kh, kw * C), axis=(1, 2))[:, ::stride, ::stride * C]   # (B, Ho, Wo, kh, kw*C)
    return windows.reshape(B, h_out, w_out, kh * kw * C)              # the one copy


def conv2d_forward(x, W, b, stride=1, padding="valid"):  # x: (B, H, W, C_in) -> out: (B, Ho, Wo, C_out), cols
    """out = im2col(x) @ W.reshape(kh*kw*C_in, C_out) + b; returns ``(out, cols)``, the cache backward needs."""
    kh, kw, c_in, c_out = W.shape
    if x.ndim != 4 or x.shape[3] != c_in:
        raise ValueError(f"expected input of shape (B, H, W, {c_in}), got {x.shape}")
    cols = im2col(x, kh, kw, stride, padding)                          # (B, Ho, Wo, kh*kw*C_in)
    B, h_out, w_out, k = cols.shape
    out = cols.reshape(B * h_out * w_out, k) @ W.reshape(k, c_out)     # one 2-D product (a 4-D @ loops)
    out += b
    return out.reshape(B, h_out, w_out, c_out), cols


def conv2d_backward(dout, cols, W, x_shape, stride=1, padding="valid", dW=None, db=None,
                    need_dx=True):                # dout: (B, Ho, Wo, C_out) -> dx: (B, H, W, C_in)
    """Gradients of out = cols @ W + b: dW = colsᵀ dout, db = 1ᵀ dout, dx = col2im(dout Wᵀ).

    ``cols`` is the forward's cache; ``x_shape`` the input's ``(B, H, W, C_in)``. ``dW``/``db`` may be
    preallocated arrays to write into (overwritten, never added to); ``need_dx=False`` skips dx (a first
    layer has no use for it) and returns ``None`` for it. Returns ``(dx, dW, db)``.
    """
    kh, kw, c_in, c_out = W.shape
    d2 = dout.reshape(-1, c_out)                                       # (B*Ho*Wo, C_out)
    c2 = cols.reshape(d2.shape[0], kh * kw * c_in)                     # (B*Ho*Wo, kh*kw*C_in)
    dW_2d = np.matmul(c2.T, d2, out=None if dW is None else dW.reshape(kh * kw * c_in, c_out))
    dW = dW_2d.reshape(W.shape) if dW is None else dW
    db = np.dot(ones(d2.shape[0], d2.dtype), d2, out=db)               # (C_out,)
    if not need_dx:
        return None, dW, db
    # dx = col2im(dout Wᵀ), computed offset by offset: the columns of dcols that kernel offset (p, q) read,
    # dout W[p, q]ᵀ (B*Ho*Wo, C_in), are added onto the input pixels that offset saw
    B, H, Wd, _ = x_shape
    h_out, w_out, (top, bottom, left, right) = conv_output_shape(H, Wd, kh, kw, stride, padding)
    dxpad = np.zeros((B, H + top + bottom, Wd + left + right, c_in), d2.dtype)
    for p in range(kh):                           # kh * kw strided additions, no loop over batch or pixels
        for q in range(kw):
            dxpad[:, p:p + stride * (h_out - 1) + 1:stride, q:q + stride * (w_out - 1) + 1:stride] += (
                (d2 @ W[p, q].T).reshape(B, h_out, w_out, c_in))
    return dxpad[:, top:top + H, left:left + Wd], dW, db


def conv2d_naive(x, W, b, stride=1, padding="valid"):  # the definition, loop by loop: for tests only
    """out[n, i, j, f] = b[f] + sum_{p, q, c} xpad[n, i*s + p, j*s + q, c] W[p, q, c, f], one loop per index."""
    B, H, Wd, C = x.shape
    kh, kw, _, F = W.shape
    h_out, w_out, (top, bottom, left, right) = conv_output_shape(H, Wd, kh, kw, stride, padding)
    xpad = np.zeros((B, H + top + bottom, Wd + left + right, C), x.dtype)
    xpad[:, top:top + H, left:left + Wd] = x
    out = np.zeros((B, h_out, w_out, F), np.result_type(x, W))
    for n in range(B):
        for i in range(h_out):
            for j in range(w_out):
                for f in range(F):
                    total = b[f]
                    for p in range(kh):
                        for q in range(kw):
                            for c in range(C):
                                total += xpad[n, i * stride + p, j * stride + q, c] * W[p, q, c, f]
                    out[n, i, j, f] = total
    return out
