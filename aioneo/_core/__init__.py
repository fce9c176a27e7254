"""Decisions only: no sockets, no locks, no sleeping, no clock reads.

The session state machine, response classification, TOTP step arithmetic, the
retry/replay policy, the request builders and their rendering to bytes. Both client
shells are short loops around these pure functions.
"""
