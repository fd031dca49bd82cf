"""SIA DC-09 tests: codec vectors and fuzzing, transmitter and receiver against pysiaalarm."""
