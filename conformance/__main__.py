"""``python -m conformance`` is the ``conformance`` command."""

import sys

from conformance.commands.cli import main

sys.exit(main())
