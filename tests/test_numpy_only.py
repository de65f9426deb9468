"""The core imports nothing but NumPy: prove it in a subprocess where gymnasium cannot be imported."""
import pkgutil
import subprocess
import sys
import textwrap

import numpy_ddqn

GYM_MODULES = {"numpy_ddqn.run.envs", "numpy_ddqn.cli.main", "numpy_ddqn.__main__", "numpy_ddqn.cli.plot",
               "numpy_ddqn.cli.record"}


def core_modules():
    names = [m.name for m in pkgutil.walk_packages(numpy_ddqn.__path__, "numpy_ddqn.")]
    return sorted(set(names) - GYM_MODULES)


def test_core_imports_without_gymnasium():
    code = textwrap.dedent(f"""
        import sys
        for blocked in ("gymnasium", "gym", "matplotlib", "torch", "scipy"):
            sys.modules[blocked] = None          # any import of these now raises ImportError
        import importlib
        for name in {core_modules()!r}:
            importlib.import_module(name)
        import numpy_ddqn
        print("ok", len({core_modules()!r}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
