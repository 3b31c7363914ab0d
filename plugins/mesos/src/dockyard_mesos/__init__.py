"""dockyard's ``mesos`` containerizer: tasks as plain processes in their sandbox.

``plugin`` holds the hook implementations. The processes belong to the work dir's
supervisor daemon of :mod:`dockyard.supervision` (the core's public process-supervision
library), which forks the tasks, reaps them and remembers how they ended, so that tasks
outlive the agent and their exit is known after it restarts.
"""
