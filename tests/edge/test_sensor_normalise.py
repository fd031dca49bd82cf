"""Table-driven tests of sensor payload validation and unit normalisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from edge.sources import SensorConfig
from edge.sources.errors import SensorRejectedError
from edge.sources.sensors import REASONS, accept, normalise

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC).timestamp()
CONFIG = SensorConfig()


def _one(
    payload: object, *, sensor: str = "lamp-7", config: SensorConfig = CONFIG
) -> tuple[str, float, str]:
    readings = normalise(json.dumps(payload).encode(), sensor=sensor, config=config, now=NOW)
    assert len(readings) == 1
    reading = readings[0]
    assert reading.sensor == sensor
    return reading.quantity, reading.value, reading.unit


@pytest.mark.parametrize(
    ("payload", "quantity", "value", "unit"),
    [
        ({"quantity": "sound_level", "value": 71.5, "unit": "dBA"}, "sound_level", 71.5, "dBA"),
        ({"quantity": "noise", "value": 80, "unit": "dB(A)"}, "sound_level", 80.0, "dBA"),
        ({"quantity": "LAeq", "value": 55.2}, "sound_level", 55.2, "dBA"),
        ({"quantity": "pm25", "value": 12.5, "unit": "µg/m³"}, "pm2_5", 12.5, "ug/m3"),
        ({"quantity": "PM2.5", "value": 12.5, "unit": "μg/m3"}, "pm2_5", 12.5, "ug/m3"),
        ({"quantity": "pm2_5", "value": 0.02, "unit": "mg/m3"}, "pm2_5", 20.0, "ug/m3"),
        ({"quantity": "pm10", "value": 40, "unit": "ug/m^3"}, "pm10", 40.0, "ug/m3"),
        ({"quantity": "no2", "value": 40, "unit": "ug/m3"}, "no2", 40.0, "ug/m3"),
        ({"quantity": "NO2", "value": 10, "unit": "ppb"}, "no2", 19.1, "ug/m3"),
        ({"quantity": "nitrogen-dioxide", "value": 0.01, "unit": "ppm"}, "no2", 19.1, "ug/m3"),
        ({"quantity": "call_button", "value": True}, "call_button", 1.0, "bool"),
        ({"quantity": "button", "value": False, "unit": "bool"}, "call_button", 0.0, "bool"),
        ({"quantity": "sos", "value": "pressed"}, "call_button", 1.0, "bool"),
        ({"quantity": "call_button", "value": 1}, "call_button", 1.0, "bool"),
        ({"quantity": "people_count", "value": 14}, "people_count", 14.0, "count"),
        ({"quantity": "occupancy", "value": 3.0, "unit": "persons"}, "people_count", 3.0, "count"),
        ({"quantity": "temperature", "value": 21.5, "unit": "°C"}, "temperature", 21.5, "degC"),
        ({"quantity": "temp", "value": 68, "unit": "degF"}, "temperature", 20.0, "degC"),
        ({"quantity": "temperature", "value": 32, "unit": "°F"}, "temperature", 0.0, "degC"),
        ({"quantity": "temperature", "value": 273.15, "unit": "K"}, "temperature", 0.0, "degC"),
        (
            {"quantity": "noise", "value": 60, "battery": 87, "rssi": -70},
            "sound_level",
            60.0,
            "dBA",
        ),
    ],
)
def test_good_payloads_are_normalised(
    payload: dict[str, object], quantity: str, value: float, unit: str
) -> None:
    got_quantity, got_value, got_unit = _one(payload)
    assert (got_quantity, got_unit) == (quantity, unit)
    assert got_value == pytest.approx(value)


def test_temperature_above_range_after_conversion_is_rejected() -> None:
    with pytest.raises(SensorRejectedError) as info:
        _one({"quantity": "temperature", "value": 212, "unit": "degF"})
    assert info.value.reason == "out_of_range"  # 100 degC is no street temperature


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        (None, datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)),
        ("2026-06-01T11:59:30Z", datetime(2026, 6, 1, 11, 59, 30, tzinfo=UTC)),
        ("2026-06-01T13:59:30.250+02:00", datetime(2026, 6, 1, 11, 59, 30, 250000, tzinfo=UTC)),
        (NOW - 10, datetime(2026, 6, 1, 11, 59, 50, tzinfo=UTC)),
        ((NOW - 10) * 1000, datetime(2026, 6, 1, 11, 59, 50, tzinfo=UTC)),  # milliseconds
        (NOW + 20, datetime(2026, 6, 1, 12, 0, 20, tzinfo=UTC)),  # within the skew allowance
    ],
)
def test_timestamps_are_normalised_to_utc(stamp: object, expected: datetime) -> None:
    payload: dict[str, object] = {"quantity": "noise", "value": 60}
    if stamp is not None:
        payload["observed_at"] = stamp
    [reading] = normalise(json.dumps(payload).encode(), sensor="s", config=CONFIG, now=NOW)
    assert reading.observed_at == expected
    assert reading.observed_at.utcoffset() is not None


def test_batch_payload_shares_a_timestamp_and_keeps_its_own() -> None:
    payload = {
        "sensor": "aq-1",
        "observed_at": "2026-06-01T11:59:00Z",
        "readings": [
            {"quantity": "pm25", "value": 9},
            {"quantity": "pm10", "value": 21},
            {"quantity": "no2", "value": 12, "unit": "ppb", "timestamp": "2026-06-01T11:58:00Z"},
        ],
    }
    readings = normalise(json.dumps(payload).encode(), sensor="aq-1", config=CONFIG, now=NOW)
    assert [r.quantity for r in readings] == ["pm2_5", "pm10", "no2"]
    assert readings[0].observed_at == datetime(2026, 6, 1, 11, 59, tzinfo=UTC)
    assert readings[2].observed_at == datetime(2026, 6, 1, 11, 58, tzinfo=UTC)
    assert readings[2].value == pytest.approx(22.92)


BAD = [
    ("oversize", b'{"quantity": "noise", "value": 60, "pad": "' + b"x" * 9000 + b'"}'),
    ("not_json", b"noise=60"),
    ("not_json", b'{"quantity": "noise", "value": NaN}'),
    ("not_json", b"\xff\xfe"),
    ("not_object", b"[1, 2]"),
    ("not_object", b"60"),
    ("invalid_payload", b'{"value": 60}'),
    ("invalid_payload", b'{"quantity": "noise"}'),
    ("invalid_payload", b'{"quantity": 5, "value": 60}'),
    ("invalid_payload", b'{"quantity": "noise", "value": [60]}'),
    ("invalid_payload", b'{"readings": "many"}'),
    ("invalid_payload", b'{"readings": []}'),
    (
        "too_many_readings",
        json.dumps({"readings": [{"quantity": "noise", "value": 1}] * 33}).encode(),
    ),
    ("sensor_mismatch", b'{"quantity": "noise", "value": 60, "sensor": "lamp-8"}'),
    ("sensor_mismatch", b'{"sensor": "lamp-8", "readings": [{"quantity": "noise", "value": 60}]}'),
    ("unknown_quantity", b'{"quantity": "radiation", "value": 1}'),
    ("unknown_unit", b'{"quantity": "noise", "value": 60, "unit": "dB"}'),
    ("unknown_unit", b'{"quantity": "pm25", "value": 60, "unit": "ppb"}'),
    ("unknown_unit", b'{"quantity": "temperature", "value": 20, "unit": "degR"}'),
    ("bad_value", b'{"quantity": "noise", "value": "loud"}'),
    ("bad_value", b'{"quantity": "noise", "value": true}'),
    ("bad_value", b'{"quantity": "call_button", "value": 2}'),
    ("bad_value", b'{"quantity": "call_button", "value": "maybe"}'),
    ("bad_value", b'{"quantity": "people_count", "value": 2.5}'),
    ("not_json", b'{"quantity": "noise", "value": 1e999}'),  # JSON has no infinity
    ("non_finite", b'{"quantity": "no2", "value": 1e308, "unit": "ppm"}'),  # overflows
    ("non_finite", b'{"quantity": "pm10", "value": 1e308, "unit": "mg/m3"}'),
    ("out_of_range", b'{"quantity": "noise", "value": -3}'),
    ("out_of_range", b'{"quantity": "noise", "value": 250}'),
    ("out_of_range", b'{"quantity": "pm25", "value": 20, "unit": "mg/m3"}'),
    ("out_of_range", b'{"quantity": "people_count", "value": -1}'),
    ("out_of_range", b'{"quantity": "temperature", "value": -100}'),
    ("bad_timestamp", b'{"quantity": "noise", "value": 60, "observed_at": "yesterday"}'),
    ("bad_timestamp", b'{"quantity": "noise", "value": 60, "observed_at": "2026-06-01T12:00:00"}'),
    ("bad_timestamp", b'{"quantity": "noise", "value": 60, "observed_at": "2026-13-01T00:00Z"}'),
    ("invalid_payload", b'{"quantity": "noise", "value": 60, "observed_at": true}'),
    ("stale", b'{"quantity": "noise", "value": 60, "observed_at": "2026-06-01T11:50:00Z"}'),
    ("stale", b'{"quantity": "noise", "value": 60, "observed_at": 0}'),
    ("future", b'{"quantity": "noise", "value": 60, "observed_at": "2026-06-01T12:05:00Z"}'),
]


@pytest.mark.parametrize(("reason", "payload"), BAD)
def test_bad_payloads_are_rejected_with_a_specific_reason(reason: str, payload: bytes) -> None:
    with pytest.raises(SensorRejectedError) as info:
        normalise(payload, sensor="lamp-7", config=CONFIG, now=NOW)
    assert info.value.reason == reason
    assert reason in REASONS
    assert str(info.value)


@pytest.mark.parametrize(
    ("sensor", "allowed", "reason"),
    [
        ("Lamp 7", (), "bad_sensor_id"),
        ("a/b", (), "bad_sensor_id"),
        ("", (), "bad_sensor_id"),
        ("lamp-9", ("lamp-7", "lamp-8"), "unknown_sensor"),
    ],
)
def test_sensor_ids_are_checked(sensor: str, allowed: tuple[str, ...], reason: str) -> None:
    config = SensorConfig(allowed_sensors=allowed)
    with pytest.raises(SensorRejectedError) as info:
        normalise(b'{"quantity": "noise", "value": 60}', sensor=sensor, config=config, now=NOW)
    assert info.value.reason == reason


def test_every_reason_in_the_catalogue_is_exercised() -> None:
    exercised = {reason for reason, _ in BAD} | {"bad_sensor_id", "unknown_sensor"}
    assert exercised == set(REASONS)


def test_accept_counts_rejections_and_readings() -> None:
    def value(name: str, labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    rejected = {"transport": "test", "reason": "unknown_unit"}
    before_rejected = value("streetsense_sensor_rejected_total", rejected)
    before_accepted = value("streetsense_sensor_readings_total", {"quantity": "pm10"})
    with pytest.raises(SensorRejectedError):
        accept(b'{"quantity": "noise", "value": 1, "unit": "dB"}', sensor="s", transport="test",
               config=CONFIG, now=NOW)  # fmt: skip
    accept(
        b'{"quantity": "pm10", "value": 3}', sensor="s", transport="test", config=CONFIG, now=NOW
    )
    assert value("streetsense_sensor_rejected_total", rejected) == before_rejected + 1
    assert value("streetsense_sensor_readings_total", {"quantity": "pm10"}) == before_accepted + 1


@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_escape_as_anything_but_a_rejection(payload: bytes) -> None:
    try:
        readings = normalise(payload, sensor="fuzz", config=CONFIG, now=NOW)
    except SensorRejectedError as exc:
        assert exc.reason in REASONS
    else:
        assert all(r.sensor == "fuzz" for r in readings)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.fixed_dictionaries(
        {
            "quantity": st.sampled_from(["noise", "pm25", "call_button", "temp", "x"]),
            "value": json_values,
        },
        optional={"unit": json_values, "observed_at": json_values, "sensor": json_values},
    )
)
def test_arbitrary_json_readings_are_accepted_or_rejected_cleanly(
    payload: dict[str, object],
) -> None:
    try:
        readings = normalise(json.dumps(payload).encode(), sensor="fuzz", config=CONFIG, now=NOW)
    except SensorRejectedError as exc:
        assert exc.reason in REASONS
    else:
        [reading] = readings
        assert reading.unit in {"dBA", "ug/m3", "bool", "degC"}
