"""Options for the pytest runs that tests start under ``pytester``."""

QUIET = ("-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")
"""No cache files in the test's folder, and no pytest-asyncio configuration warning."""
