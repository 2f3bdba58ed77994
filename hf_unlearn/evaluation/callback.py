"""`UnlearningEvalCallback` lives in [`hf_unlearn.callbacks`] with the package's other callbacks; this module keeps
the import path `hf_unlearn.evaluation.callback` (and the lazy name `hf_unlearn.evaluation.UnlearningEvalCallback`)
working."""

from ..callbacks import UnlearningEvalCallback


__all__ = ["UnlearningEvalCallback"]
