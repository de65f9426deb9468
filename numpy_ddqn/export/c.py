"""``--format c``: the policy as one dependency-free C99 file.

The file holds the weights as ``static const float`` arrays and two functions::

    void policy_q(const float *obs, float *q);   /* obs: POLICY_OBS_SIZE floats -> q: POLICY_N_ACTIONS */
    int policy_act(const float *obs);            /* argmax_a q[a], the first on ties (as NumPy's argmax) */

No allocation (the activations live in two stack arrays of POLICY_SCRATCH floats), no libc at all
(tanh is a rational function, see ``TANH``; ``<math.h>`` is included, and only a LayerNorm calls something from
it: ``sqrtf``, one per LayerNorm per observation, so link with ``-lm`` where libm is separate), reentrant. Observations are floats in the env's order (NHWC for images).
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import MissingDependency
from ..policy import LAYER_NORM_EPS, Policy
from ..policy import write_atomic
from .graph import describe, head_layout, steps

PER_LINE = 8     # numbers per line in the weight arrays

HELPERS = r"""
/* y = x @ W + b: x (n_in,), W (n_in, n_out) row-major, b and y (n_out,) */
static void dense(const float *restrict x, const float *restrict W, const float *restrict b,
                  float *restrict y, int n_in, int n_out)
{
    int i, j;
    for (j = 0; j < n_out; j++) y[j] = b[j];
    for (i = 0; i < n_in; i++) {
        const float xi = x[i];
        const float *restrict w = W + i * n_out;
        for (j = 0; j < n_out; j++) y[j] += xi * w[j];
    }
}
"""

LAYERNORM = r"""
/* h = g (h - mean h) / sqrt(var h + eps) + b over n features, in place (biased variance, as the NumPy policy) */
static void layernorm(float *restrict h, const float *restrict g, const float *restrict b, int n)
{
    int k;
    float mean = 0.0f, var = 0.0f, inv;
    for (k = 0; k < n; k++) mean += h[k];
    mean /= (float)n;
    for (k = 0; k < n; k++) { const float d = h[k] - mean; var += d * d; }
    var /= (float)n;
    inv = 1.0f / sqrtf(var + POLICY_LAYER_NORM_EPS);
    for (k = 0; k < n; k++) h[k] = (h[k] - mean) * inv * g[k] + b[k];
}
"""

TANH = r"""
/* tanh(x) = sign(x) p(|x|) / q(|x|), Eigen's float rational approximation, |x| clamped to 7.99881172 where it
 * reaches 1: within 7 float32 ulps of tanh (measured on [-9, 9] in steps of 1e-5). The clamp and the sign are
 * integer operations (positive floats order as their bits), so compilers vectorize the loop at -O2. */
typedef union { float f; unsigned int u; } policy_bits;

static void tanh_inplace(float *restrict h, int n)
{
    int k;
    for (k = 0; k < n; k++) {
        policy_bits v, sign;
        float x, x2, p, q;
        v.f = h[k];
        sign.u = v.u & 0x80000000u;
        v.u &= 0x7fffffffu;
        v.u = v.u < 0x40fff644u ? v.u : 0x40fff644u;
        x = v.f;
        x2 = x * x;
        p = -2.76076847742355e-16f;
        p = p * x2 + 2.00018790482477e-13f;
        p = p * x2 - 8.60467152213735e-11f;
        p = p * x2 + 5.12229709037114e-08f;
        p = p * x2 + 1.48572235717979e-05f;
        p = p * x2 + 6.37261928875436e-04f;
        p = p * x2 + 4.89352455891786e-03f;
        q = 1.19825839466702e-06f;
        q = q * x2 + 1.18534705686654e-04f;
        q = q * x2 + 2.26843463243900e-03f;
        q = q * x2 + 4.89352518554385e-03f;
        v.f = x * p / q;
        v.u |= sign.u;
        h[k] = v.f;
    }
}
"""

CONV = r"""
/* y[i, j, f] = b[f] + sum_{p, q, c} x[i*s + p - pt, j*s + q - pl, c] W[p, q, c, f]: NHWC, zero padding */
static void conv2d(const float *restrict x, int H, int Wd, int C, const float *restrict W, const float *restrict b,
                   int kh, int kw, int F, int s, int pt, int pl, float *restrict y, int Ho, int Wo)
{
    int i, j, p, q, c, f;
    for (i = 0; i < Ho; i++) for (j = 0; j < Wo; j++) {
        float *restrict out = y + (i * Wo + j) * F;
        for (f = 0; f < F; f++) out[f] = b[f];
        for (p = 0; p < kh; p++) {
            const int r = i * s + p - pt;
            if (r < 0 || r >= H) continue;
            for (q = 0; q < kw; q++) {
                const int col = j * s + q - pl;
                const float *xp, *wp;
                if (col < 0 || col >= Wd) continue;
                xp = x + (r * Wd + col) * C;
                wp = W + (p * kw + q) * C * F;
                for (c = 0; c < C; c++) {
                    const float xc = xp[c];
                    for (f = 0; f < F; f++) out[f] += xc * wp[c * F + f];
                }
            }
        }
    }
}
"""

ACTIVATION_C = {
    "tanh": "tanh_inplace({h}, {n});",
    "relu": "for (k = 0; k < {n}; k++) {h}[k] = {h}[k] > 0.0f ? {h}[k] : 0.0f;",
    "identity": "",
}


def _array(name, a):
    """``static const float name[n] = {...};`` with every float32 written exactly (9 significant digits)."""
    values = np.asarray(a, np.float32).ravel()
    if not np.all(np.isfinite(values)):
        raise ValueError(f"weight {name} holds NaN or infinite values; such a policy cannot be exported")
    numbers = [f"{v:.9g}" for v in values.tolist()]
    lines = ["    " + ", ".join(numbers[i:i + PER_LINE]) + "," for i in range(0, len(numbers), PER_LINE)]
    return f"static const float {name}[{len(numbers)}] = {{  /* {' x '.join(map(str, np.shape(a)))} */\n" \
           + "\n".join(lines) + "\n};\n"


def c_source(policy: Policy) -> str:
    """The C99 source of ``policy`` (see the module docstring)."""
    plan = steps(policy)
    n_out = plan[-1].out_shape[0]                 # A, or 1 + A with a dueling head
    A = policy.n_actions
    scratch = max(int(np.prod(s.out_shape)) for s in plan)
    obs_shape = policy.obs_shape if policy.layer_list else (policy.obs_dim,)
    header = [
        f"/* Greedy policy exported by numpy_ddqn {__version__} (numpy-ddqn export --format c).",
        f" *   env: {policy.env_id}; source checkpoint step: {policy.step if policy.step is not None else 'unknown'}",
        f" *   observation: shape {tuple(obs_shape)}, dtype {policy.obs_dtype or 'unknown'}, passed as "
        f"{int(np.prod(obs_shape))} floats" + (" (H, W, C row-major: NHWC)" if len(obs_shape) > 1 else ""),
        f" *   actions: {A}",
        f" *   network: {describe(policy)}; trained in {policy.dtype}, stored here as float32",
        f" *   weights SHA-256 (policy.py's weights_sha256): {policy.sha256()}",
        " *",
        " * void policy_q(const float *obs, float *q);  q: POLICY_N_ACTIONS Q-values",
        " * int policy_act(const float *obs);          the greedy action, argmax_a Q (the first on ties)",
        " * Needs no library (only <math.h> is included); no allocation; reentrant. Build: cc -O2 -c policy.c",
        " */",
        "#include <math.h>",
        "",
        f"#define POLICY_OBS_SIZE {int(np.prod(obs_shape))}",
        f"#define POLICY_N_ACTIONS {A}",
        f"#define POLICY_SCRATCH {scratch}",
        f'#define POLICY_WEIGHTS_SHA256 "{policy.sha256()}"',
        "",
    ]
    arrays, body = [], []
    src, buffers, i_weight = "obs", ("h0", "h1"), 0
    for step in plan:
        if step.kind in ("dense", "conv"):
            W, b = f"W{i_weight}", f"b{i_weight}"
            arrays += [_array(W, step.W), _array(b, step.b)]
            i_weight += 1
            dst = buffers[0] if src != buffers[0] else buffers[1]
            if step.kind == "dense":
                body.append(f"    dense({src}, {W}, {b}, {dst}, {step.in_shape[0]}, {step.out_shape[0]});")
            else:
                (H, Wd, C), (Ho, Wo, F), (kh, kw) = step.in_shape, step.out_shape, step.W.shape[:2]
                body.append(f"    conv2d({src}, {H}, {Wd}, {C}, {W}, {b}, {kh}, {kw}, {F}, {step.stride}, "
                            f"{step.pads[0]}, {step.pads[1]}, {dst}, {Ho}, {Wo});")
            src = dst
        elif step.kind == "layernorm":
            g, b = f"g{i_weight}", f"b{i_weight}"
            arrays += [_array(g, step.W), _array(b, step.b)]
            i_weight += 1
            n = int(np.prod(step.out_shape))
            if src == "obs":                      # a LayerNorm straight on the input: copy it first
                body.append(f"    for (k = 0; k < {n}; k++) h0[k] = obs[k];")
                src = "h0"
            body.append(f"    layernorm({src}, {g}, {b}, {n});")
        elif step.kind in ACTIVATION_C:
            line = ACTIVATION_C[step.kind].format(n=int(np.prod(step.out_shape)), h=src)
            if src == "obs" and line:             # an activation straight on the input: copy it first
                body.append(f"    for (k = 0; k < {int(np.prod(step.out_shape))}; k++) h0[k] = obs[k];")
                src = "h0"
                line = ACTIVATION_C[step.kind].format(n=int(np.prod(step.out_shape)), h=src)
            if line:
                body.append("    " + line)
        # flatten: NHWC buffers are already in flattened order
    layout = head_layout(policy)
    if layout.kind != "q":                        # a distributional head: rows of N values per action
        if layout.kind == "categorical":
            arrays.append(_array("Z", layout.z))
        body += distribution_c(src, A, layout)
    elif policy.head == "dueling":                # Q = V + (A - mean_a A), the head's outputs being (V, A)
        body += [f"    for (k = 0; k < {A}; k++) mean += {src}[1 + k];",
                 f"    mean /= {A}.0f;",
                 f"    for (k = 0; k < {A}; k++) q[k] = {src}[0] + ({src}[1 + k] - mean);"]
    else:
        body.append(f"    for (k = 0; k < {n_out}; k++) q[k] = {src}[k];")
    uses_conv = any(s.kind == "conv" for s in plan)
    functions = [
        "void policy_q(const float *obs, float *q)",
        "{",
        "    float h0[POLICY_SCRATCH], h1[POLICY_SCRATCH];",
        "    float mean = 0.0f;" if policy.head == "dueling" else None,
        f"    float row[{layout.n}], amean[{layout.n}], top, sum, num;\n    int a, i;" if layout.kind != "q" else None,
        "    int k;",
        *body,
        "    (void)h0; (void)h1;",
        "}",
        "",
        "int policy_act(const float *obs)",
        "{",
        "    float q[POLICY_N_ACTIONS];",
        "    int a, best = 0;",
        "    policy_q(obs, q);",
        "    for (a = 1; a < POLICY_N_ACTIONS; a++)",
        "        if (q[a] > q[best]) best = a;",
        "    return best;",
        "}",
        "",
    ]
    uses_tanh = any(s.kind == "tanh" for s in plan)
    if any(s.kind == "layernorm" for s in plan):
        header.insert(-1, f"#define POLICY_LAYER_NORM_EPS {LAYER_NORM_EPS!r}f")
        arrays.append(LAYERNORM)
    return "\n".join(header) + "\n" + "\n".join(arrays) + HELPERS + (TANH if uses_tanh else "") \
        + (CONV if uses_conv else "") + "\n" \
        + "\n".join(line for line in functions if line is not None)


def distribution_c(src: str, A: int, layout) -> list[str]:
    """C lines from the head's outputs ``src`` ((D + A) rows of N, D = 1 with a dueling V row) to ``q``: each
    action's row (dueling per atom: V_i + (A_i - mean_a A_i)), then the mean of its distribution."""
    N = layout.n
    lines = []
    if layout.dueling:
        lines += [f"    for (i = 0; i < {N}; i++) {{",
                  "        amean[i] = 0.0f;",
                  f"        for (a = 0; a < {A}; a++) amean[i] += {src}[(1 + a) * {N} + i];",
                  f"        amean[i] /= {A}.0f;",
                  "    }"]
    value = f"{src}[i] + ({src}[(1 + a) * {N} + i] - amean[i])" if layout.dueling else f"{src}[a * {N} + i]"
    lines += [f"    for (a = 0; a < {A}; a++) {{",
              f"        for (i = 0; i < {N}; i++) row[i] = {value};"]
    if layout.kind == "categorical":              # Q = sum_i e_i z_i / sum_i e_i, e_i = exp(l_i - max l)
        lines += ["        top = row[0];",
                  f"        for (i = 1; i < {N}; i++) if (row[i] > top) top = row[i];",
                  "        sum = 0.0f; num = 0.0f;",
                  f"        for (i = 0; i < {N}; i++) {{ float e = expf(row[i] - top); sum += e; num += e * Z[i]; }}",
                  "        q[a] = num / sum;"]
    else:                                         # Q = mean_i theta_i
        lines += ["        sum = 0.0f;",
                  f"        for (i = 0; i < {N}; i++) sum += row[i];",
                  f"        q[a] = sum / {N}.0f;"]
    lines += ["    }", "    (void)amean; (void)num; (void)top;"]
    return lines


def write_c(policy: Policy, path: str | os.PathLike) -> Path:
    """Write ``c_source(policy)`` to ``path`` atomically."""
    return write_atomic(path, c_source(policy).encode())


# -- compiling and running it (tests, parity, latency): these use libc, the exported file does not --

HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#include <time.h>
#include "{source}"

void run_q(const float *obs, long n, float *q)
{{
    long i;
    for (i = 0; i < n; i++) policy_q(obs + i * POLICY_OBS_SIZE, q + i * POLICY_N_ACTIONS);
}}

void run_act(const float *obs, long n, int *actions)
{{
    long i;
    for (i = 0; i < n; i++) actions[i] = policy_act(obs + i * POLICY_OBS_SIZE);
}}

/* seconds for `repeats` passes of policy_act over the n observations */
double time_act(const float *obs, long n, long repeats)
{{
    struct timespec t0, t1;
    volatile int sink = 0;
    long r, i;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (r = 0; r < repeats; r++)
        for (i = 0; i < n; i++) sink += policy_act(obs + i * POLICY_OBS_SIZE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
}}
"""


def find_compiler() -> str:
    """The machine's C compiler (``$CC``, else cc, gcc or clang); ``MissingDependency`` if there is none."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise MissingDependency("compiling the exported C file needs a C compiler, and none was found "
                            "(set CC, or install cc/gcc/clang); the file itself was written")


def compile_c(args: list, compiler: str | None = None) -> None:
    """Run the C compiler on ``args``; a ``RuntimeError`` with its messages if it fails."""
    cmd = [compiler or find_compiler(), *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr}")


class CPolicy:
    """An exported C file compiled (``-O2``) into a shared library and called through ctypes."""

    def __init__(self, c_path: str | os.PathLike, opt: str = "-O2") -> None:
        c_path = Path(c_path).resolve()
        self._dir = tempfile.TemporaryDirectory(prefix="numpy_ddqn_c_")
        harness, lib = Path(self._dir.name) / "harness.c", Path(self._dir.name) / "policy.so"
        harness.write_text(HARNESS.format(source=str(c_path).replace("\\", "/")))
        compile_c([opt, "-std=c99", "-shared", "-fPIC", "-o", lib, harness, "-lm"])
        text = c_path.read_text()
        self.obs_size = int(text.split("#define POLICY_OBS_SIZE ")[1].split()[0])
        self.n_actions = int(text.split("#define POLICY_N_ACTIONS ")[1].split()[0])
        self.lib = ctypes.CDLL(str(lib))
        ptr = np.ctypeslib.ndpointer
        self.lib.run_q.argtypes = [ptr(np.float32, flags="C"), ctypes.c_long, ptr(np.float32, flags="C")]
        self.lib.run_act.argtypes = [ptr(np.float32, flags="C"), ctypes.c_long, ptr(np.int32, flags="C")]
        self.lib.time_act.argtypes = [ptr(np.float32, flags="C"), ctypes.c_long, ctypes.c_long]
        self.lib.time_act.restype = ctypes.c_double

    def _obs(self, obs):                          # (B, *obs_shape) -> (B, obs_size) float32, C order
        x = np.ascontiguousarray(np.asarray(obs, np.float32).reshape(len(obs), -1))
        if x.shape[1] != self.obs_size:
            raise ValueError(f"expected observations of {self.obs_size} values, got {x.shape[1]}")
        return x

    def q_values(self, obs: np.ndarray) -> np.ndarray:            # (B, *obs_shape) -> (B, A) float32
        """``policy_q`` on each observation of a batch."""
        x = self._obs(obs)
        q = np.empty((len(x), self.n_actions), np.float32)
        self.lib.run_q(x, len(x), q)
        return q

    def act(self, obs: np.ndarray) -> np.ndarray:                 # (B, *obs_shape) -> (B,) int
        """``policy_act`` on each observation of a batch."""
        x = self._obs(obs)
        actions = np.empty(len(x), np.int32)
        self.lib.run_act(x, len(x), actions)
        return actions.astype(np.int64)

    def seconds_per_action(self, obs: np.ndarray, repeats: int = 1) -> float:
        """Wall time of one ``policy_act`` call, timed inside C over ``repeats`` passes of ``obs``."""
        x = self._obs(obs)
        return self.lib.time_act(x, len(x), repeats) / (len(x) * repeats)

    def close(self) -> None:
        """Delete the compiled library's folder."""
        self._dir.cleanup()
