"""Import sqlite-utils without pandas.

sqlite-utils imports pandas whenever it is installed (datasets brings it), only to map
`pandas.Timestamp` to a column type. The store never writes one, and that import costs
about 0.3 s on every command, so pandas is hidden for the duration of this one import.
"""

from __future__ import annotations

import sys

if "sqlite_utils" not in sys.modules and "pandas" not in sys.modules:
    sys.modules["pandas"] = None  # type: ignore[assignment]  # makes `import pandas` fail
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["pandas"]
