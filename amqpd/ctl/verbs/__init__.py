"""The verb modules, one per group of rabbitmqctl's verbs; REGISTRY maps each verb's name to it.

To add verbs: write amqpd/ctl/verbs/<group>.py with a VERBS list (see amqpd/ctl/verb.py) and
add the module to MODULES here.
"""

from __future__ import annotations

from amqpd.ctl.verb import Verb
from amqpd.ctl.verbs import (access, connections, definitions, diagnostics, exchanges, node, plugins, policies, queues,
                             users, vhosts)

MODULES = [users, access, vhosts, policies, queues, exchanges, connections, definitions, plugins, node, diagnostics]

REGISTRY: dict[str, Verb] = {verb.name: verb for module in MODULES for verb in module.VERBS}
