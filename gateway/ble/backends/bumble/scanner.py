"""``BleakScannerBumble``: bleak's scanner backend on the emulated radio.

Advertising reports come from the gateway's virtual controller (:class:`BumbleRadio`), are parsed
from their AD structures (Core Spec Supplement v11, Part A, 1.x) into bleak's
:class:`~bleak.backends.scanner.AdvertisementData`, filtered by ``service_uuids`` and handed to the
detection callbacks, exactly like the BlueZ backend does with D-Bus property changes.
"""

from __future__ import annotations

import struct
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str
from bumble.device import Advertisement

if TYPE_CHECKING:
    from gateway.ble.backends.bumble.radio import BumbleRadio

# AD types (Bluetooth Assigned Numbers, 2.3 "Common Data Types").
_AD_UUID16 = (0x02, 0x03)
_AD_UUID128 = (0x06, 0x07)
_AD_SHORT_NAME = 0x08
_AD_COMPLETE_NAME = 0x09
_AD_TX_POWER = 0x0A
_AD_SERVICE_DATA_16 = 0x16
_AD_SERVICE_DATA_128 = 0x21
_AD_MANUFACTURER = 0xFF
# bumble's report when the controller did not measure a value.
_NOT_AVAILABLE = 127


def uuid16(value: int) -> str:
    """The 128-bit string bleak uses for a 16-bit SIG UUID (Bluetooth Base UUID)."""
    return f"0000{value:04x}-0000-1000-8000-00805f9b34fb"


def uuid128_le(data: bytes) -> str:
    """A 128-bit UUID from its little-endian air bytes, as bleak writes it."""
    return str(uuid.UUID(bytes=bytes(reversed(data))))


def advertisement_data(advertisement: Advertisement) -> AdvertisementData:
    """bleak's view of one bumble advertisement (names, UUIDs, service and maker data, RSSI)."""
    name: str | None = None
    uuids: list[str] = []
    service_data: dict[str, bytes] = {}
    manufacturer: dict[int, bytes] = {}
    tx_power: int | None = None
    for ad_type, payload in advertisement.data.ad_structures:
        if ad_type in _AD_UUID16:
            uuids.extend(
                uuid16(struct.unpack_from("<H", payload, i)[0])
                for i in range(0, len(payload) - 1, 2)
            )
        elif ad_type in _AD_UUID128:
            uuids.extend(uuid128_le(payload[i : i + 16]) for i in range(0, len(payload) - 15, 16))
        elif ad_type == _AD_COMPLETE_NAME or (ad_type == _AD_SHORT_NAME and name is None):
            name = payload.decode("utf-8", errors="replace")
        elif ad_type == _AD_TX_POWER and len(payload) == 1:
            tx_power = struct.unpack("<b", payload)[0]
        elif ad_type == _AD_SERVICE_DATA_16 and len(payload) >= 2:
            service_data[uuid16(struct.unpack_from("<H", payload)[0])] = bytes(payload[2:])
        elif ad_type == _AD_SERVICE_DATA_128 and len(payload) >= 16:
            service_data[uuid128_le(payload[:16])] = bytes(payload[16:])
        elif ad_type == _AD_MANUFACTURER and len(payload) >= 2:
            manufacturer[struct.unpack_from("<H", payload)[0]] = bytes(payload[2:])
    rssi = advertisement.rssi if advertisement.rssi != _NOT_AVAILABLE else -127
    return AdvertisementData(
        local_name=name,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=list(dict.fromkeys(uuids)),
        tx_power=tx_power,
        rssi=rssi,
        platform_data=(advertisement,),
    )


class BleakScannerBumble(BaseBleakScanner):
    """A bleak scanner backend on a :class:`BumbleRadio` (use ``radio.scanner_backend``).

    ``scanning_mode`` ``"passive"`` sends no scan requests: the scanner only hears what devices
    advertise, which is all the gateway needs to know a device is in range and has data.
    """

    radio: ClassVar[BumbleRadio | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"],
        **kwargs: Any,
    ) -> None:
        super().__init__(
            detection_callback,
            None if service_uuids is None else [normalize_uuid_str(u) for u in service_uuids],
        )
        if self.radio is None:
            raise BleakError("use BumbleRadio.scanner_backend, which is bound to a radio")
        self._radio: BumbleRadio = self.radio
        self.active = scanning_mode != "passive"

    async def start(self) -> None:
        self.seen_devices = {}
        await self._radio.start_scanning(self)

    async def stop(self) -> None:
        await self._radio.stop_scanning(self)

    def on_advertisement(self, advertisement: Advertisement) -> None:
        """Called by the radio for every advertising report while this scanner runs."""
        adv = advertisement_data(advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = str(advertisement.address).split("/")[0].upper()
        device = self.create_or_update_device(
            address, address, adv.local_name, advertisement.address, adv
        )
        self.call_detection_callbacks(device, adv)


def bind_scanner(radio: BumbleRadio) -> type[BleakScannerBumble]:
    """A :class:`BleakScannerBumble` subclass bound to ``radio``, for bleak's ``backend=``."""
    return type("BleakScannerBumble", (BleakScannerBumble,), {"radio": radio})
