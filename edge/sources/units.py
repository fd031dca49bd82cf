"""Sensor quantities, their canonical units, accepted aliases and unit conversions.

Canonical units: sound_level dBA, pm2_5 / pm10 / no2 ug/m3, call_button bool
(pressed = 1), people_count count, temperature degC. NO2 in ppb is converted
with the EU reference factor (20 degC, 101.3 kPa, as in Directive 2008/50/EC):
1 ppb = 1.91 ug/m3.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

NO2_UG_PER_M3_PER_PPB = 1.91

Converter = Callable[[float], float]


def _same(value: float) -> float:
    return value


def _times(factor: float) -> Converter:
    def convert(value: float) -> float:
        return value * factor

    return convert


def _fahrenheit(value: float) -> float:
    return (value - 32.0) * 5.0 / 9.0


def _kelvin(value: float) -> float:
    return value - 273.15


@dataclass(frozen=True, slots=True)
class Quantity:
    """A measured quantity: canonical unit, accepted units and the plausible range."""

    name: str
    unit: str
    minimum: float
    maximum: float
    units: Mapping[str, Converter]  # unit key (see unit_key) -> conversion to canonical
    integer: bool = False
    boolean: bool = False


_MASS = {"ug/m3": _same, "mg/m3": _times(1000.0)}

QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity("sound_level", "dBA", 0.0, 194.0, {"dba": _same}),
        Quantity("pm2_5", "ug/m3", 0.0, 10_000.0, _MASS),
        Quantity("pm10", "ug/m3", 0.0, 10_000.0, _MASS),
        Quantity(
            "no2",
            "ug/m3",
            0.0,
            10_000.0,
            {
                **_MASS,
                "ppb": _times(NO2_UG_PER_M3_PER_PPB),
                "ppm": _times(NO2_UG_PER_M3_PER_PPB * 1000.0),
            },
        ),
        Quantity("call_button", "bool", 0.0, 1.0, {"bool": _same, "boolean": _same}, boolean=True),
        Quantity(
            "people_count",
            "count",
            0.0,
            100_000.0,
            {"count": _same, "people": _same, "persons": _same},
            integer=True,
        ),
        Quantity(
            "temperature",
            "degC",
            -60.0,
            85.0,
            {
                "degc": _same,
                "c": _same,
                "celsius": _same,
                "degf": _fahrenheit,
                "f": _fahrenheit,
                "fahrenheit": _fahrenheit,
                "k": _kelvin,
                "kelvin": _kelvin,
            },
        ),
    )
}

QUANTITY_ALIASES: dict[str, str] = {
    **{name: name for name in QUANTITIES},
    "noise": "sound_level",
    "noise_level": "sound_level",
    "sound": "sound_level",
    "sound_pressure_level": "sound_level",
    "spl": "sound_level",
    "laeq": "sound_level",
    "pm25": "pm2_5",
    "pm_2_5": "pm2_5",
    "pm_25": "pm2_5",
    "pm_10": "pm10",
    "nitrogen_dioxide": "no2",
    "button": "call_button",
    "emergency_button": "call_button",
    "call_point": "call_button",
    "sos": "call_button",
    "people": "people_count",
    "person_count": "people_count",
    "occupancy": "people_count",
    "temp": "temperature",
    "air_temperature": "temperature",
}

_QUANTITY_SEPARATORS = re.compile(r"[\s.\-/]+")
_UNIT_NOISE = re.compile(r"[\s()_^]+")


def quantity_key(raw: str) -> str:
    """Normalise a quantity name for lookup: ``"PM2.5"`` -> ``"pm2_5"``."""
    return _QUANTITY_SEPARATORS.sub("_", raw.strip().lower()).strip("_")


def unit_key(raw: str) -> str:
    """Normalise a unit for lookup: ``"µg/m³"`` -> ``"ug/m3"``, ``"dB(A)"`` -> ``"dba"``."""
    text = raw.strip().lower()
    for old, new in (("µ", "u"), ("μ", "u"), ("³", "3"), ("°", "deg"), ("º", "deg")):
        text = text.replace(old, new)
    return _UNIT_NOISE.sub("", text)


def lookup_quantity(raw: str) -> Quantity | None:
    """The quantity a name or alias refers to, or None."""
    name = QUANTITY_ALIASES.get(quantity_key(raw))
    return QUANTITIES[name] if name is not None else None
