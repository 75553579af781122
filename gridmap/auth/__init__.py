"""Users, roles, sessions, API tokens and rate limits (plain Python, no Flask).

- :mod:`gridmap.auth.roles`: the staff roles and their labels; role and
  grid-code checks.
- :mod:`gridmap.auth.accounts`: :class:`AccountStore` over SQLite
  (``DATA_DIR/accounts.sqlite3``): users with scrypt password hashes,
  server-side sessions, API tokens stored as SHA-256 hashes.
- :mod:`gridmap.auth.throttle`: :class:`Throttle`, rate limits (GCRA
  buckets in a file mapped by every worker process, :mod:`gridmap.auth.buckets`)
  and sign-in failure counts in SQLite.
- :mod:`gridmap.auth.demo`: demo accounts for each role.

Residents have no account: :data:`gridmap.auth.roles.RESIDENT` names the
anonymous role. The audit log of privileged actions is :mod:`gridmap.audit`.

Every store here opens one short-lived SQLite connection per call (WAL mode,
5 s busy timeout), so one instance may be shared by threads, and several
gunicorn workers may use the same files at once.
"""
