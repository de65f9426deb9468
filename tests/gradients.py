"""Shared by the DQN-family tests: compare an analytic gradient with ``numeric_grad``, printing mine vs numeric."""
import numpy as np

from numpy_ddqn.nn import numeric_grad

RTOL, ATOL = 1e-5, 1e-7          # float64 central differences with eps = 1e-6


def assert_grad_close(mine, numeric, what, rtol=RTOL, atol=ATOL):
    """Fail with the worst entry, 'mine vs numeric', unless the two gradients agree."""
    mine, numeric = np.asarray(mine, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    assert mine.shape == numeric.shape, f"{what}: shape {mine.shape} vs numeric {numeric.shape}"
    if not np.allclose(mine, numeric, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(mine - numeric)), mine.shape)
        raise AssertionError(f"backward pass went wrong for {what} at {worst}: "
                             f"mine {mine[worst]!r} vs numeric {numeric[worst]!r}")


def check_grad(loss, x, mine, what, eps=1e-6, **tol):
    """``assert_grad_close(mine, numeric_grad(loss, x))``: ``loss()`` reads ``x`` (perturbed in place)."""
    assert_grad_close(mine, numeric_grad(loss, x, eps), what, **tol)
