"""UCUM units the catalog uses, and linear conversions between them.

Each conversion is ``canonical = value * scale + offset``. Only units that some real device or
export actually sends are listed; anything else is refused rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

# Molar mass of D-glucose C6H12O6 is 180.156 g/mol, so 1 mmol/L = 18.0156 mg/dL.
# (IUPAC atomic weights; the factor 18.0 used by some tools differs by < 0.1 %.)
GLUCOSE_MG_DL_PER_MMOL_L = 18.0156

# 1 mmHg = 0.133322387415 kPa (ISO 80000-4 / conventional mercury definition).
MMHG_PER_KPA = 1.0 / 0.133322387415

# International avoirdupois pound, exactly 0.45359237 kg (1959 agreement).
KG_PER_LB = 0.45359237


@dataclass(frozen=True, slots=True)
class Conversion:
    """A linear conversion to a metric's canonical unit: ``canonical = value * scale + offset``."""

    scale: float
    offset: float = 0.0

    def to_canonical(self, value: float) -> float:
        return value * self.scale + self.offset

    def from_canonical(self, value: float) -> float:
        return (value - self.offset) / self.scale


IDENTITY = Conversion(1.0)
MG_DL_TO_MMOL_L = Conversion(1.0 / GLUCOSE_MG_DL_PER_MMOL_L)
KPA_TO_MMHG = Conversion(MMHG_PER_KPA)
LB_TO_KG = Conversion(KG_PER_LB)
DEGF_TO_CEL = Conversion(5.0 / 9.0, -32.0 * 5.0 / 9.0)


def mg_dl_to_mmol_l(value_mg_dl: float) -> float:
    """Glucose in mg/dL to mmol/L."""
    return value_mg_dl / GLUCOSE_MG_DL_PER_MMOL_L


def mmol_l_to_mg_dl(value_mmol_l: float) -> float:
    """Glucose in mmol/L to mg/dL."""
    return value_mmol_l * GLUCOSE_MG_DL_PER_MMOL_L
