import sys

from vistflow.cli import main

sys.exit(main())
