"""Bond keys of the emulated radio, kept in one file in the gateway's data directory.

bumble's :class:`~bumble.keys.JsonKeyStore` already replaces its file atomically. Two things are
added for keys that must survive a power cut and must not be readable by other users of the
gateway: the temporary file is created ``0600`` and fsync'ed before the rename, and the directory
is fsync'ed after it (a rename is durable only once its directory is).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bumble.keys import JsonKeyStore


class DurableKeyStore(JsonKeyStore):
    """A :class:`JsonKeyStore` at ``path`` whose saves are private (0600) and durable."""

    def __init__(self, namespace: str, path: Path) -> None:
        super().__init__(namespace, str(path))
        self.path = Path(self.filename)

    async def save(self, db: dict[str, dict[str, dict[str, Any]]]) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(db, out, sort_keys=True, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, self.path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
