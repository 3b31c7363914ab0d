"""dockyard's ``docker`` containerizer: Mesos DOCKER containers on the Docker Engine API.

One agent-wide events watcher sees every exit; output is streamed from the Engine into the
sandbox; nothing runs per container except the log followers. The entry point is
:class:`dockyard_docker.plugin.DockerContainerizer`.
"""
