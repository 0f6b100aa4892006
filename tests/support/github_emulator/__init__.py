"""A GitHub REST + GraphQL emulator for gitops-promote's tests.

Start it with ``python -m github_emulator --port 0 --state-dir DIR`` (with
``tests/support`` on ``PYTHONPATH``) or ``python tests/support/github_emulator``.
"""
