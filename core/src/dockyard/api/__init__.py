"""The agent's HTTP API: Mesos v1 operator calls, the event stream, files, metrics."""
