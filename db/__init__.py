"""Database layer: one Piccolo app per domain, queries beside their tables.

Importing ``db`` points Piccolo at :mod:`db.piccolo_conf`.
"""

import os

os.environ.setdefault("PICCOLO_CONF", "db.piccolo_conf")
