"""amqpctl: the operator's command line, rabbitmqctl's verbs and output over the management API.

An HTTP client only: it imports the settings and config modules to find the broker, never the
broker or the management package (tests/test_layers.py keeps it so).
"""

from amqpd.ctl.main import main

__all__ = ["main"]
