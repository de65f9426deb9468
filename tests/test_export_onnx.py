"""``--format onnx``: the model runs in onnxruntime and matches the NumPy policy for every network kind; its
metadata carries the weights' SHA-256, checked on load."""
import numpy as np
import pytest

from export_nets import obs_shape, policies
from helpers import cli, quick_flags
from numpy_ddqn.export import check_parity, export_policy

pytest.importorskip("onnx", reason="ONNX export needs the 'onnx' extra: pip install 'numpy_ddqn[onnx]'")
pytest.importorskip("onnxruntime", reason="running ONNX models needs onnxruntime: pip install 'numpy_ddqn[onnx]'")

from numpy_ddqn.export.onnx_model import OPSET, OnnxPolicy, onnx_model  # noqa: E402

POLICIES = policies()


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_onnx_model_matches_the_numpy_policy(name, tmp_path):
    policy = POLICIES[name]
    model = OnnxPolicy(export_policy(policy, tmp_path / "policy.onnx", "onnx"))
    obs = (2 * np.random.default_rng(1).normal(size=(1500, *obs_shape(policy)))).astype(np.float32)
    report = check_parity(policy, model.run, [("random", obs)], "onnx")
    assert report.ok, str(report)
    q, action = model.run(obs)
    assert q.shape == (1500, policy.n_actions) and action.shape == (1500,) and action.dtype == np.int64
    assert q.dtype == policy.dtype                      # a float64 policy runs in float64
    np.testing.assert_allclose(q, policy.q_values(obs), rtol=1e-4, atol=1e-4)


def test_onnx_model_states_its_opset_outputs_and_metadata():
    policy = POLICIES["conv-minatar"]
    policy.step = 77
    model = onnx_model(policy)
    policy.step = None
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    assert [o.name for o in model.graph.output] == ["q", "action"] and model.graph.input[0].name == "obs"
    props = {p.key: p.value for p in model.metadata_props}
    assert props["weights_sha256"] == policy.sha256() and props["env_id"] == "MinAtar/Breakout-v1"
    assert props["step"] == "77" and props["obs_shape"] == "[10, 10, 4]" and props["n_actions"] == "3"
    assert not any(n.op_type.startswith("ATen") for n in model.graph.node)


def test_onnx_load_rejects_a_tampered_model(tmp_path):
    import onnx
    from onnx import numpy_helper
    path = export_policy(POLICIES["mlp-relu"], tmp_path / "policy.onnx", "onnx")
    model = onnx.load(str(path))
    w = numpy_helper.to_array(model.graph.initializer[0]).copy()
    w[0, 0] += 1e-3
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, model.graph.initializer[0].name))
    onnx.save(model, str(tmp_path / "tampered.onnx"))
    with pytest.raises(ValueError, match="do not match the model's weights_sha256"):
        OnnxPolicy(tmp_path / "tampered.onnx")


def test_export_command_onnx_with_parity(tmp_path):
    done = cli("train", "--out", tmp_path / "run", *quick_flags(dueling=True))
    assert done.returncode == 0, done.stderr
    done = cli("export", tmp_path / "run" / "last.npz", tmp_path / "policy.onnx", "--check", 2000)
    assert done.returncode == 0, done.stderr
    assert "onnxruntime, one thread" in done.stdout and "parity: OK" in done.stdout
    assert "unexplained differences: 0" in done.stdout
