"""dockyard's ``mesos`` containerizer: tasks as plain processes in their sandbox.

``plugin`` holds the hook implementations; ``supervisor`` is the one small process per
agent work dir that forks the tasks, reaps them and remembers how they ended, so that
tasks outlive the agent and their exit is known after it restarts.
"""
