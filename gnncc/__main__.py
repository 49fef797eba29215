import sys

from gnncc.cli.main import main

sys.exit(main())
