"""Every public module, class, function and method has a docstring."""
import importlib
import inspect
import pkgutil

import numpy_ddqn

OPTIONAL = {"numpy_ddqn.__main__"}


def public_names():
    for info in pkgutil.walk_packages(numpy_ddqn.__path__, "numpy_ddqn."):
        if info.name in OPTIONAL:
            continue
        module = importlib.import_module(info.name)
        yield info.name, module
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{info.name}.{name}", obj
                if inspect.isclass(obj):
                    for attr, member in vars(obj).items():
                        if not attr.startswith("_") and inspect.isfunction(member):
                            yield f"{info.name}.{name}.{attr}", member


def test_every_public_name_has_a_docstring():
    names = list(public_names())
    assert len(names) > 100
    assert [n for n, obj in names if not (obj.__doc__ or "").strip()] == []
