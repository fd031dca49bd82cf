"""The default StreetSense video classifier: fight / no fight from surveillance clips.

Build with ``make model`` (``python -m models.fight.build``); the shipped ONNX
files and their card live next to this file.
"""
