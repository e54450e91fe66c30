"""bleak backends that bleak itself does not ship.

Each backend lives in its own folder with bleak's per-backend file names (``client.py``,
``scanner.py``), and its classes are named role + backend (``BleakClientBumble``). The gateway
never imports a backend: whoever composes the gateway passes the classes as bleak's ``backend=``
argument, or nothing to get the platform's own (BlueZ on the gateway's Linux).
"""
