"""`python -m hf_unlearn ...` is `hf-unlearn ...` (and `accelerate launch -m hf_unlearn unlearn ...`)."""

import sys

from .commands import main


if __name__ == "__main__":
    sys.exit(main())
