"""The operator's application layer: what an operator can ask of Pagemind and change in it,
through the REST API (``adapters.http_api``) or the ``pagemind keys`` command.

Pure and port-based like the rest of ``core``: no web framework, no driver. One module per
idea (keys and roles, audit, paging, the agent directory, usage, archival, check-ins, the
changes that go through an agent's inbox); ``OperatorServices`` (``core.operator.services``)
holds them together for the entry points.
"""
