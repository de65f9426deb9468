"""Errors a user can act on, in one hierarchy: the CLI reports any ``NumpyDDQNError`` as one line.

Each message says what is wrong and, where there is one, the fix. Where a builtin base fits
(``ValueError``, ``FloatingPointError``, ``ImportError``) the error has it too.
"""


class NumpyDDQNError(Exception):
    """Base class of the errors the CLI reports as one line."""


class ConfigError(NumpyDDQNError, ValueError):
    """A configuration value is invalid; the message names the field, the value and what is allowed."""


class DivergenceError(NumpyDDQNError, FloatingPointError):
    """Learning produced a NaN or infinite loss or gradient; the message names the step."""


class TrainingError(NumpyDDQNError):
    """An unexpected exception stopped the training loop; the run was saved at that step (cause chained)."""


class RunFolderBusy(NumpyDDQNError):
    """Another process is training into the same run folder (it holds the folder's lock)."""


class EnvError(NumpyDDQNError):
    """The environment cannot be made or is not supported (spaces, bad values)."""


class CheckpointError(NumpyDDQNError):
    """A checkpoint is missing, truncated, corrupt, too new, or does not fit the network or env."""


class MissingDependency(NumpyDDQNError, ImportError):
    """An optional extra is not installed; the message names the pip command."""


def require(module, extra, what="this"):
    """Import an optional dependency, or raise ``MissingDependency`` naming the extra to install
    (``what`` names the feature that needs it: ``"--backend ray"``)."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(f"{what} needs the '{module.split('.')[0]}' package: "
                                f"pip install 'numpy_ddqn[{extra}]'") from None
