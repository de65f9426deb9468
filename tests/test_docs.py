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


def test_the_public_api_is_type_hinted():
    """Every function and public method of the names the package root exports has annotated parameters
    and a return annotation (``py.typed`` promises it)."""
    missing = []
    for name in numpy_ddqn.__all__:
        obj = getattr(numpy_ddqn, name)
        members = [(name, obj)] if inspect.isfunction(obj) else [
            (f"{name}.{attr}", m) for attr, m in vars(obj).items()
            if inspect.isfunction(getattr(m, "__func__", m)) and (not attr.startswith("_") or attr == "__init__")
        ] if inspect.isclass(obj) and obj.__module__.startswith("numpy_ddqn") else []
        for qual, member in members:
            func = getattr(member, "__func__", member)
            params = [p for p in inspect.signature(func).parameters.values()
                      if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL,)]
            if any(p.annotation is inspect.Parameter.empty for p in params) or (
                    func.__name__ != "__init__" and "return" not in func.__annotations__):
                missing.append(qual)
    assert missing == []
