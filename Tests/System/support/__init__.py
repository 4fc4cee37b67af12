"""Helpers for the OpsCore system tests: real redis-server processes, the
`opscore` CLI, workers and watchers, and the figures the tests report."""
