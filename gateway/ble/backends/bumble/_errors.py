"""bumble's errors become bleak's, here and nowhere else.

The gateway is written against bleak's API, so a failure must look the same whether a BlueZ
adapter or the emulated radio produced it. The table, most specific first:

=====================================  ===============================================
bumble                                 bleak
=====================================  ===============================================
``att.ATT_Error``                      ``BleakGATTProtocolError(code)`` (Core Spec v5.4,
                                       Vol 3, Part F, 3.4.1.1, Table 3.4: the same code)
``core.TimeoutError``                  ``TimeoutError`` (what bleak raises on timeouts)
``hci.HCI_Error`` on connect           ``BleakDeviceNotFoundError(address)`` when the
                                       controller found nobody, else ``BleakError``
``CancelledError`` because the link    ``BleakError("... disconnected")``; a cancellation
dropped (not because our task was      of the caller's own task is passed on untouched
cancelled)
any other ``core.BaseBumbleError``     ``BleakError``
=====================================  ===============================================
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci


@contextlib.contextmanager
def bleak_errors(address: str, *, connected: Callable[[], bool] | None = None) -> Iterator[None]:
    """Translate bumble exceptions raised in the block for the peer at ``address``.

    ``connected`` tells whether the link is still up; bumble cancels a pending ATT request when
    the link drops, and without this check that would look like a cancellation of the caller.
    """
    try:
        yield
    except att.ATT_Error as exc:
        raise BleakGATTProtocolError(int(exc.error_code)) from exc
    except core.TimeoutError as exc:
        raise TimeoutError(f"{address}: {exc}") from exc
    except hci.HCI_Error as exc:
        if exc.error_code in (
            hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            hci.HCI_ErrorCode.PAGE_TIMEOUT_ERROR,
            hci.HCI_ErrorCode.CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR,
        ):
            raise BleakDeviceNotFoundError(address, f"{address}: {exc}") from exc
        raise BleakError(f"{address}: {exc}") from exc
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if connected is not None and not connected() and (task is None or not task.cancelling()):
            raise BleakError(f"{address}: disconnected during the operation") from None
        raise
    except core.BaseBumbleError as exc:
        raise BleakError(f"{address}: {type(exc).__name__}: {exc}") from exc
