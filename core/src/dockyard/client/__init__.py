"""``dockyard`` as a client of a running agent: ``dockyard task ...``, ``dockyard agent health``.

:mod:`dockyard.client.http` is the HTTP client of the agent's API, usable on its own;
:mod:`dockyard.client.commands` holds the commands and :mod:`dockyard.client.cli` their
command line.
"""
