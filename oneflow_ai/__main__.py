import sys

from oneflow_ai.cli import main

sys.exit(main())
