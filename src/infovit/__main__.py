"""``python -m infovit`` is the same as the ``infovit`` command."""

import sys

from infovit.cli.main import main

sys.exit(main())
