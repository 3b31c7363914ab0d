"""dockyard's benchmarks: each measured against its bare baseline in the same run.

Run all of them with ``python -m benchmarks`` (``--quick`` for a short run); see
``docs/performance.md``.
"""
