"""Entry point: ``python -m github_emulator`` or ``python path/to/github_emulator``."""

import os
import sys

if __package__ in (None, ""):
    # run as a directory/script: make the package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from github_emulator.server import main
else:
    from .server import main

sys.exit(main())
