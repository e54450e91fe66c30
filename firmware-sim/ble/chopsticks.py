"""Emulated smart chopsticks: Homeward's vendor service (``docs/devices/chopsticks.md``).

During a meal the chopsticks indicate a Meal Event "started", one Bite Measurement per bite (oil
total polar material, food temperature, pH, sodium), and "ended" with the meal's summary, all on
one sequence counter and stamped with the device clock. What was eaten while no gateway listened
waits in the device and is indicated, oldest first, once a collector enables indications; each
record is kept until confirmed, as for the SIG devices that store measurements.

Bite values are seeded per meal (modelling defaults): the oil's total polar material is drawn once
per meal between 8 and 20 % (fresh oil 2-8 %, discard at 24-27 % under the German DGF rule the
metric catalog cites), food temperature 45-70 °C, pH 5.0-6.5 for cooked dishes, and sodium per
bite log-normal around 45 mg: about 4 g of sodium a day in China (24-hour urinary excretion, Tan
et al., J Am Heart Assoc 2019) spread over three meals of some 30 bites.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bumble import gatt
from bumble.core import UUID
from bumble.device import Connection
from bumble.link import LocalLink

from devices.gatt import uuids
from devices.gatt.chopsticks import (
    BiteMeasurement,
    ChopsticksFeature,
    MealEvent,
    MealEventType,
    MealSummary,
    encode_bite_measurement,
    encode_chopsticks_feature,
    encode_meal_event,
)
from firmware_sim.ble._peripheral import Peripheral, Properties
from firmware_sim.ble.clock import DeviceClock
from firmware_sim.ble.faults import Faults
from firmware_sim.errors import ParameterError

SERVICE = UUID(uuids.CHOPSTICKS_SERVICE)
_SODIUM_MEDIAN_MG = 45.0
_SODIUM_SIGMA = 0.5


@dataclass(frozen=True, slots=True)
class ChopsticksRecord:
    """One record waiting for a collector: a bite or a meal event."""

    sequence_number: int
    taken_s: float
    bite: bool
    value: bytes


class Chopsticks(Peripheral):
    """Chopsticks for patient ``seed``; :meth:`eat` queues a meal's records."""

    advertised_services_128 = (SERVICE,)
    has_current_time = True

    def __init__(
        self,
        link: LocalLink,
        *,
        address: str,
        name: str = "Chopsticks",
        seed: int = 1,
        faults: Faults | None = None,
        clock: DeviceClock | None = None,
        keystore_path: Path | None = None,
    ) -> None:
        super().__init__(
            link,
            address=address,
            name=name,
            faults=faults,
            clock=clock,
            keystore_path=keystore_path,
        )
        self.seed = seed
        self.pending: deque[ChopsticksRecord] = deque()
        self.delivered: list[ChopsticksRecord] = []
        self._seq = 0
        self._meals = 0
        self._more = asyncio.Event()
        self._delivering = False

    def eat(
        self, bites: int, *, start_s: float | None = None, bite_interval_s: float = 20.0
    ) -> list[ChopsticksRecord]:
        """A meal of ``bites`` bites starting at ``start_s`` (epoch s, default now), one bite
        every ``bite_interval_s``; its records are queued for the collector."""
        if not 1 <= bites <= 1000:
            raise ParameterError("bites", bites, "must be within 1-1000")
        start = self.clock.wall() if start_s is None else start_s
        self._meals += 1
        rng = np.random.default_rng([self.seed, self._meals])
        tpm = float(np.round(rng.uniform(8.0, 20.0), 1))
        records = [self._event(MealEventType.MEAL_STARTED, start, None)]
        total = 0.0
        for k in range(bites):
            sodium = float(np.round(_SODIUM_MEDIAN_MG * np.exp(_SODIUM_SIGMA * rng.normal()), 0))
            total += sodium
            taken = start + (k + 1) * bite_interval_s
            self._seq += 1
            bite = BiteMeasurement(
                sequence_number=self._seq,
                timestamp=self.clock.local_at(taken).replace(microsecond=0),
                oil_tpm_pct=tpm,
                food_temperature_c=float(np.round(rng.uniform(45.0, 70.0), 1)),
                ph=float(np.round(rng.uniform(5.0, 6.5), 1)),
                sodium_mg=sodium,
            )
            records.append(ChopsticksRecord(self._seq, taken, True, encode_bite_measurement(bite)))
        end = start + (bites + 1) * bite_interval_s
        records.append(self._event(MealEventType.MEAL_ENDED, end, MealSummary(bites, round(total))))
        self.pending.extend(records)
        self._more.set()
        return records

    def _event(
        self, event: MealEventType, taken_s: float, summary: MealSummary | None
    ) -> ChopsticksRecord:
        self._seq += 1
        value = encode_meal_event(
            MealEvent(
                sequence_number=self._seq,
                event=event,
                timestamp=self.clock.local_at(taken_s).replace(microsecond=0),
                summary=summary,
            )
        )
        return ChopsticksRecord(self._seq, taken_s, False, value)

    def _services(self) -> Sequence[gatt.Service]:
        self.bite_char = self._characteristic(
            UUID(uuids.CHOPSTICKS_BITE_MEASUREMENT), Properties.INDICATE, value=b""
        )
        self.meal_char = self._characteristic(
            UUID(uuids.CHOPSTICKS_MEAL_EVENT), Properties.INDICATE, value=b""
        )
        feature = (
            ChopsticksFeature.OIL_TPM
            | ChopsticksFeature.FOOD_TEMPERATURE
            | ChopsticksFeature.PH
            | ChopsticksFeature.SODIUM
            | ChopsticksFeature.TIME_STAMP
            | ChopsticksFeature.MEAL_EVENTS
        )
        feature_char = self._characteristic(
            UUID(uuids.CHOPSTICKS_FEATURE),
            Properties.READ,
            value=encode_chopsticks_feature(feature),
        )
        self.bite_char.on(self.bite_char.EVENT_SUBSCRIPTION, self._on_subscription)
        self.meal_char.on(self.meal_char.EVENT_SUBSCRIPTION, self._on_subscription)
        return [gatt.Service(SERVICE, [self.bite_char, self.meal_char, feature_char])]

    def _on_subscription(self, bearer: object, _notify: bool, indicate_enabled: bool) -> None:
        connection = self.connection
        if connection is None or self._delivering:
            return
        # Records go out in order on two characteristics: wait until both are subscribed.
        if all(
            self._subscribed(connection, char, indicate=True)
            for char in (self.bite_char, self.meal_char)
        ):
            self._spawn(self._deliver(connection))

    async def _deliver(self, connection: Connection) -> None:
        self._delivering = True
        try:
            while self.connection is connection:
                if not self.pending:
                    self._more.clear()
                    await self._more.wait()
                    continue
                record = self.pending[0]
                char = self.bite_char if record.bite else self.meal_char
                confirmed = await self._send_measurement(
                    connection, char, record.value, count=record.sequence_number, indicate=True
                )
                if not confirmed:
                    return
                self.delivered.append(self.pending.popleft())
        finally:
            self._delivering = False

    def on_disconnected(self, connection: Connection) -> None:
        self._more.set()  # wake the delivery loop so it sees the link is gone
