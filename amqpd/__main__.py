"""`python -m amqpd` is the `amqpd` command."""

import sys

from amqpd.cli import main

sys.exit(main())
