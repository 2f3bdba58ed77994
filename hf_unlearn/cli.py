"""Deprecated location of the `hf-unlearn` command; it lives in [`hf_unlearn.commands`] now.

Kept so that `from hf_unlearn.cli import main` and `accelerate launch -m hf_unlearn.cli unlearn ...` keep working.
"""

import sys

from .commands import DEBUG_ENV, _take_debug_flag, build_parser, main, user_error_types


__all__ = ["DEBUG_ENV", "_take_debug_flag", "build_parser", "main", "user_error_types"]


if __name__ == "__main__":
    sys.exit(main())
