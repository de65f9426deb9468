"""``python -m numpy_ddqn ...`` runs the command line."""
import sys

from .cli import main

sys.exit(main())
