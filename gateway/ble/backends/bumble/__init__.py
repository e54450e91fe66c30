"""The emulated radio as a bleak backend: bumble virtual controllers on an in-process link.

``BumbleRadio(link, keystore_path=...)`` is the gateway's controller; its ``client_backend`` and
``scanner_backend`` go to bleak's ``backend=``. Peripherals (:mod:`firmware_sim.ble`) put their
own controllers on the same :class:`bumble.link.LocalLink`.
"""

from gateway.ble.backends.bumble.client import BleakClientBumble
from gateway.ble.backends.bumble.radio import DEFAULT_ATT_MTU, DEFAULT_GATEWAY_ADDRESS, BumbleRadio
from gateway.ble.backends.bumble.scanner import BleakScannerBumble, advertisement_data

__all__ = [
    "DEFAULT_ATT_MTU",
    "DEFAULT_GATEWAY_ADDRESS",
    "BleakClientBumble",
    "BleakScannerBumble",
    "BumbleRadio",
    "advertisement_data",
]
