"""`python -m amqpd.ctl`: the same as the amqpctl console script."""

from amqpd.ctl.main import main

main()
