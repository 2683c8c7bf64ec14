"""`python -m popbt` is the `popbt` command."""

import sys

from popbt.cli import main

sys.exit(main())
