"""`python -m cosmos_steps.cli ...`: the `cosmos` command without the console script."""

import sys

from cosmos_steps.cli import main

sys.exit(main())
