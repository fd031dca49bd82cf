"""SIA DC-09 (ANSI/SIA DC-09): pure codec, transmitter output and receiver listener."""
