"""Exporting a policy: the C file compiled and compared for every network kind, the parity check, the weights'
SHA-256, the export command and its errors, the C example. (ONNX: test_export_onnx.py.)"""
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from export_nets import obs_shape, policies
from helpers import QUICK, cli, quick_flags
from numpy_ddqn.errors import CheckpointError, ConfigError, MissingDependency
from numpy_ddqn.export import (CPolicy, ParityError, c_source, check_parity, draw_from_space, export,
                               export_policy, find_compiler, open_artifact)
from numpy_ddqn.export.parity import magnitude_policy, observation_batches, rounding_bound
from numpy_ddqn.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = policies()


def compiler_or_skip():
    try:
        return find_compiler()
    except MissingDependency as e:
        pytest.skip(f"no C compiler on this machine: {e}")


def random_obs(policy, n, seed=1, scale=2.0):
    return (scale * np.random.default_rng(seed).normal(size=(n, *obs_shape(policy)))).astype(np.float32)


# -- the C file ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(POLICIES))
def test_c_file_compiles_and_matches_the_numpy_policy(name, tmp_path):
    compiler_or_skip()
    policy = POLICIES[name]
    path = export_policy(policy, tmp_path / "policy.c", "c")
    c = CPolicy(path)
    try:
        obs = random_obs(policy, 2000)
        report = check_parity(policy, lambda x: (c.q_values(x), c.act(x)), [("random", obs)], "c")
        assert report.ok, str(report)
        assert report.n == 2000 and report.max_dq_over_bound <= 1
        q = c.q_values(obs)
        assert q.shape == (2000, policy.n_actions) and np.isfinite(q).all()
        np.testing.assert_allclose(q, policy.q_values(obs), rtol=1e-4, atol=1e-4)   # the same function
    finally:
        c.close()


def test_c_file_is_c99_and_needs_no_library(tmp_path):
    cc = compiler_or_skip()
    for name in ("mlp-tanh", "conv-strided-dueling"):
        path = export_policy(POLICIES[name], tmp_path / f"{name}.c", "c")
        text = path.read_text()
        assert [line for line in text.splitlines() if line.startswith("#include")] == ["#include <math.h>"]
        for word in ("malloc", "free(", "printf", "static float"):      # no allocation, no libc, no mutable state
            assert word not in text
        assert "static const float W0[" in text and "int policy_act(const float *obs)" in text
        assert "void policy_q(const float *obs, float *q)" in text
        # an object file with no undefined symbols at all: nothing from libc or libm is called
        obj = tmp_path / f"{name}.o"
        subprocess.run([cc, "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-O2", "-c", str(path), "-o", str(obj)],
                       check=True, capture_output=True)
        nm = shutil.which("nm")
        if nm:
            undefined = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True).stdout.split()
            assert [u for u in undefined if not u.startswith("_GLOBAL_OFFSET")] == [], undefined


def test_c_header_names_env_shape_dtype_actions_step_and_hash():
    policy = POLICIES["conv-minatar"]
    policy.step, policy.obs_dtype = 123_456, "bool"
    head = c_source(policy).split("*/")[0]
    for text in ("MinAtar/Breakout-v1", "step: 123456", "shape (10, 10, 4)", "dtype bool", "actions: 3",
                 policy.sha256()):
        assert text in head, text
    policy.step = policy.obs_dtype = None


def test_c_ties_pick_the_first_action_as_numpy_argmax_does(tmp_path):
    compiler_or_skip()
    W = np.zeros((3, 4), np.float32)                   # every Q-value equal to its bias
    policy = Policy([W, np.array([1.0, 2.0, 2.0, 0.5], np.float32)], "tanh")
    c = CPolicy(export_policy(policy, tmp_path / "tie.c", "c"))
    try:
        assert c.act(np.ones((5, 3), np.float32)).tolist() == [1] * 5 == policy.act(np.ones((5, 3))).tolist()
    finally:
        c.close()


def test_example_reads_stdin_and_prints_actions(tmp_path):
    cc = compiler_or_skip()
    policy = POLICIES["mlp-tanh"]
    export_policy(policy, tmp_path / "policy.c", "c")
    exe = tmp_path / "act"
    subprocess.run([cc, "-O2", "-std=c99", "-I", str(tmp_path), "-o", str(exe), str(ROOT / "examples" / "act_stdin.c")],
                   check=True, capture_output=True)
    obs = random_obs(policy, 50)
    text = "\n".join(" ".join(repr(float(v)) for v in row) for row in obs) + "\n"
    out = subprocess.run([str(exe)], input=text, capture_output=True, text=True, check=True, timeout=30).stdout
    assert [int(a) for a in out.split()] == policy.act(obs).tolist()


# -- the parity check itself --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(POLICIES))
def test_rounding_bound_holds_against_float64(name):
    """Half the bound covers one float32 implementation: NumPy's float32 Q against the same net in float64."""
    policy = POLICIES[name]
    exact = Policy([a.astype(np.float64) for a in policy.weights()], policy.activation, head=policy.head,
                   layers=policy.layer_list, obs_shape=policy.obs_shape, head_params=policy.head_params)
    obs = random_obs(policy, 500, scale=3.0)
    err = np.abs(policy.q_values(obs).astype(np.float64) - exact.q_values(obs.astype(np.float64)))
    assert np.all(err <= rounding_bound(policy, magnitude_policy(policy), obs) / 2)


def test_parity_explains_near_ties_and_flags_everything_else():
    policy = POLICIES["mlp-relu"]
    obs = random_obs(policy, 400)
    q = policy.q_values(obs)
    bound = rounding_bound(policy, magnitude_policy(policy), obs)

    assert check_parity(policy, lambda x: (q, q.argmax(1)), [("random", obs)], "same").ok

    noisy = q + 3 * bound                               # beyond rounding everywhere
    report = check_parity(policy, lambda x: (noisy, q.argmax(1)), [("random", obs)], "noisy")
    assert not report.ok and report.n_unexplained == 400 and "exceeds the float32 rounding bound" in str(report)

    order = np.sort(q, axis=1)
    gap = order[:, -1] - order[:, -2]                   # top-two gap of each observation
    flipped = np.argsort(q, axis=1)[:, -2]              # the runner-up action
    i_tie, i_far = int(np.argmin(gap)), int(np.argmax(gap))
    q_tie = q.copy()                                    # a near tie: make the exact gap smaller than rounding
    q_tie[i_tie, flipped[i_tie]] = q_tie[i_tie].max() - 0.1 * bound[i_tie].min()
    a = q_tie.argmax(1)
    a[i_tie] = flipped[i_tie]                           # ... and the artifact picks the runner-up there

    class Tied:                                         # the reference policy, with those Q-values
        def __getattr__(self, name):
            return getattr(policy, name)

        def q_values(self, x):
            return q_tie

    report = check_parity(Tied(), lambda x: (q_tie, a), [("random", obs)], "tie")
    assert report.ok and report.differing_actions == 1 and report.near_ties[0]["index"] == i_tie, str(report)
    assert "near tie" in str(report)

    b = q.argmax(1)
    b[i_far] = flipped[i_far]                           # an action flipped across a wide gap
    report = check_parity(policy, lambda x: (q, b), [("random", obs)], "far")
    assert not report.ok and report.differing_actions == 1 and "beyond float32 rounding" in str(report)


def test_observations_come_from_the_replay_and_the_space():
    gymnasium = pytest.importorskip("gymnasium", reason="the observation space is a gymnasium Box")
    space = gymnasium.make("CartPole-v1").observation_space
    rng = np.random.default_rng(0)
    obs = draw_from_space(space, 5000, rng)
    assert obs.dtype == np.float32 and np.isfinite(obs).all()
    assert np.all(np.abs(obs[:, [0, 2]]) <= space.high[[0, 2]])         # bounded dims: within the bounds
    assert np.abs(obs[:, 1]).max() < 10                                 # float32-max bounds: normal draws
    frames = draw_from_space(gymnasium.spaces.Box(0, 1, (3, 3, 2), bool), 100, rng)
    assert set(np.unique(frames)) == {0.0, 1.0}
    replay = np.full((7, 4), 9.0, np.float32)
    batches = list(observation_batches(POLICIES["mlp-tanh"], 101, rng, space, replay, chunk=16))
    sources = {}
    for source, b in batches:
        sources[source] = sources.get(source, 0) + len(b)
        assert b.shape[1:] == (4,)
        if "replay" in source:
            assert np.all(b == 9.0)
    assert sources == {"from the replay": 50, "from the observation space": 51}


# -- the weights' SHA-256 -----------------------------------------------------------------------------------

def test_policy_file_records_the_weights_hash_and_load_rejects_a_tampered_file(tmp_path):
    policy = POLICIES["dueling-tanh"]
    path = export_policy(policy, tmp_path / "policy.npz", "npz")
    assert Policy.load(path).sha256() == policy.sha256()
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    assert json.loads(arrays["meta"].tobytes())["weights_sha256"] == policy.sha256()
    arrays["W1"] = arrays["W1"].copy()
    arrays["W1"][3, 2] += 1e-3                          # one weight changed, the meta kept
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(ValueError, match="do not match the file's SHA-256"):
        Policy.load(tmp_path / "tampered.npz")
    meta = json.loads(arrays["meta"].tobytes())
    del meta["weights_sha256"]                          # a file from before the hash still loads
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    assert Policy.load(tmp_path / "old.npz").n_actions == 4


def test_dueling_policy_of_layers_counts_its_actions():
    """A dueling head's 1 + A outputs are A actions (policy.py once reported A - 1 for a network of layers)."""
    policy = POLICIES["conv-strided-dueling"]
    assert policy.layers[-1][0].shape[1] == 4 and policy.n_actions == 3
    assert policy.q_values(np.zeros((7, 8, 2))).shape == (3,)


@pytest.mark.parametrize("fmt", ["npz", "c", "onnx"])
def test_every_format_is_written_atomically(tmp_path, monkeypatch, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnx", reason="the ONNX export needs the 'onnx' extra")
    import numpy_ddqn.policy as writer                      # write_atomic: every exported file goes through it
    path = tmp_path / f"policy.{fmt}"
    path.write_bytes(b"previous")

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer.os, "fsync", full_disk)
    with pytest.raises(OSError):
        export_policy(POLICIES["mlp-tanh"], path, fmt)
    assert path.read_bytes() == b"previous" and list(tmp_path.iterdir()) == [path]


# -- the export command, the API and their errors -----------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    done = cli("train", "--out", out, *quick_flags(hidden_sizes=(16, 16)))
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("fmt", ["npz", "c"])
def test_export_command_writes_reports_and_checks_parity(run_dir, tmp_path, fmt):
    if fmt == "c":
        compiler_or_skip()
    out = tmp_path / f"policy.{fmt}"
    done = cli("export", run_dir / "last.npz", out, "--format", fmt, "--check", 3000)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and f"{out.stat().st_size:,} bytes" in done.stdout
    assert "us per greedy action" in done.stdout and "weights SHA-256" in done.stdout
    assert "1,500 from the replay, 1,500 from the observation space" in done.stdout
    assert "unexplained differences: 0" in done.stdout and "parity: OK" in done.stdout


def test_export_format_follows_the_suffix_and_npz_is_the_default(run_dir, tmp_path):
    compiler_or_skip()
    assert cli("export", run_dir / "last.npz", tmp_path / "p.c").returncode == 0
    assert (tmp_path / "p.c").read_text().startswith("/* Greedy policy")
    assert cli("export", run_dir / "last.npz", tmp_path / "p.bin").returncode == 0
    assert Policy.load(tmp_path / "p.bin").step == QUICK["total_steps"]


def test_export_command_fails_on_a_difference_beyond_rounding(run_dir, tmp_path, monkeypatch):
    compiler_or_skip()
    import numpy_ddqn.export as ex
    real = ex.write_c

    def wrong_c(p, path):                              # an exporter with a bug: one bias off by 0.01
        weights = p.weights()
        weights[-1] = weights[-1] + np.float32(0.01)
        return real(Policy(weights, p.activation, p.env_id, p.head), path)

    monkeypatch.setattr(ex, "write_c", wrong_c)
    with pytest.raises(ParityError, match="beyond float32 rounding on 400 of 400") as e:
        export(run_dir / "last.npz", tmp_path / "bad.c", check=400)
    assert "UNEXPLAINED" in str(e.value.result) and "parity: FAILED" in str(e.value.result)


def test_export_errors_are_one_line(run_dir, tmp_path):
    done = cli("export", run_dir / "last.npz", tmp_path / "x", "--format", "tflite")
    assert done.returncode == 2 and "invalid choice: 'tflite'" in done.stderr
    done = cli("export", run_dir / "last.npz", tmp_path / "policy.npz", "--format", "c")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "ends in .npz, the suffix of --format npz, but --format c writes a .c file; name it policy.c" in done.stderr
    done = cli("export", tmp_path / "missing.npz", tmp_path / "p.npz")
    assert done.returncode == 1 and "no checkpoint or policy file at" in done.stderr
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not a zip at all")
    done = cli("export", tmp_path / "junk.npz", tmp_path / "p.npz")
    assert done.returncode == 1 and "is truncated or corrupt" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(ConfigError, match="unknown export format 'tflite'; expected one of npz, c, onnx"):
        export(run_dir / "last.npz", tmp_path / "x", "tflite")
    with pytest.raises(ConfigError, match="check must be an int >= 0"):
        export(run_dir / "last.npz", tmp_path / "x.npz", check=-1)
    np.savez(tmp_path / "tampered.npz", meta=np.frombuffer(json.dumps(
        {"format": "numpy_ddqn.policy/1", "activation": "tanh", "sizes": [2, 2], "weights_sha256": "0" * 64}).encode(),
        np.uint8), W0=np.eye(2, dtype=np.float32), b0=np.zeros(2, np.float32))
    with pytest.raises(CheckpointError, match="altered or damaged"):
        export(tmp_path / "tampered.npz", tmp_path / "y.c")
    done = cli("export", tmp_path / "tampered.npz", tmp_path / "y.c")
    assert done.returncode == 1 and "altered or damaged" in done.stderr and "Traceback" not in done.stderr


def test_export_without_a_c_compiler_writes_the_file_and_says_why(run_dir, tmp_path):
    env = {"PATH": str(tmp_path / "empty"), "CC": "", "PYTHONPATH": str(ROOT)}
    code = "import sys; from numpy_ddqn.cli.main import main; sys.exit(main(sys.argv[1:]))"
    args = [sys.executable, "-c", code, "export", str(run_dir / "last.npz"), str(tmp_path / "p.c")]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "latency not measured: compiling the exported C file needs a C compiler" in done.stdout
    assert (tmp_path / "p.c").is_file()
    done = subprocess.run(args + ["--check", "10"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "needs a C compiler, and none was found" in done.stderr


def test_export_onnx_without_the_extra_names_it(run_dir, tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.modules["onnx"] = sys.modules["onnxruntime"] = None
        from numpy_ddqn.cli.main import main
        sys.exit(main(["export", {str(run_dir / 'last.npz')!r}, {str(tmp_path / 'p.onnx')!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == "numpy-ddqn: error: --format onnx needs the 'onnx' package: pip install 'numpy_ddqn[onnx]'"
    assert not (tmp_path / "p.onnx").exists()


def test_model_api_exports_every_format(tmp_path):
    pytest.importorskip("gymnasium")
    from numpy_ddqn import DDQN
    model = DDQN("CartPole-v1", **{**QUICK, "total_steps": 1}).learn(200)
    result = model.export(tmp_path / "policy.npz")
    assert result.format == "npz" and Policy.load(result.path).step == 200
    obs = random_obs(model.policy(), 20)
    assert (Policy.load(result.path).act(obs) == model.predict(obs)[0]).all()
    try:
        find_compiler()
    except MissingDependency:
        return
    result = model.export(tmp_path / "policy.c", check=500)
    assert result.parity.ok and result.parity.n == 500 and result.size == (tmp_path / "policy.c").stat().st_size
    run, _, close = open_artifact(result.path, "c")
    assert (run(obs)[1] == model.predict(obs)[0]).all()
    close()


def test_agents_of_every_trained_network_kind_export_to_c(tmp_path):
    """Policies from the agent itself (MLP activations, dueling, conv layers, distributional heads): the C file
    matches each."""
    compiler_or_skip()
    from numpy_ddqn import Config, DDQNAgent
    from numpy_ddqn.checkpoint import agent_policy
    cases = [((4,), dict(activation="relu")), ((4,), dict(activation="identity", dueling=True)),
             ((10, 10, 4), dict(layers="conv8x3,relu,flatten,dense16,relu")),
             ((6, 6, 3), dict(layers="conv4x3s2same,tanh,conv4x2,relu,dense8,tanh", dueling=True)),
             ((4,), dict(distribution="categorical", dueling=True, v_min=0.0, v_max=100.0)),
             ((4,), dict(distribution="quantile", n_quantiles=16))]
    for shape, fields in cases:
        agent = DDQNAgent(shape if len(shape) > 1 else shape[0], 3, Config(**fields))
        policy = agent_policy(agent)
        c = CPolicy(export_policy(policy, tmp_path / "agent.c", "c"))
        try:
            obs = random_obs(policy, 300)
            assert check_parity(policy, lambda x: (c.q_values(x), c.act(x)), [("random", obs)], "c").ok
            assert policy.act(obs).tolist() == [agent.greedy_action(o) for o in obs]
        finally:
            c.close()


def test_export_package_imports_without_onnx():
    code = "import sys; sys.modules['onnx'] = sys.modules['onnxruntime'] = None; import numpy_ddqn.export, numpy_ddqn.export.onnx_model"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
