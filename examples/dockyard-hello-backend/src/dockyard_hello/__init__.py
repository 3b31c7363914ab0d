"""dockyard-hello-backend: an example third-party containerizer for dockyard."""
