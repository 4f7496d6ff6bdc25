"""`python -m cosmos_steps.cli` = the `cosmos` command."""

import sys

from cosmos_steps.cli import main

sys.exit(main())
