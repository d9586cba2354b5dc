"""``python -m mlmkit.ops``: the ops commands without the rest of the CLI."""

import sys

from mlmkit.ops.commands import main

sys.exit(main())
