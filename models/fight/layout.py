"""Layout of the frame model's per-frame feature vector (no torch, so tests and tools can use it).

``[appearance | cells | thumbnail | flow thumbnail]``; see :mod:`models.fight.heads`.
"""

from __future__ import annotations

APPEARANCE = 1280  # final MobileNetV2 map, globally averaged
CELL_CHANNELS = 96  # stride-16 map ...
CELL_GRID = 7  # ... averaged to a 7x7 grid of cells
THUMB = 32  # grayscale thumbnail side, pixel-difference statistics
FLOW_THUMB = 80  # blurred grayscale thumbnail side, optical flow
CELL_DIM = CELL_CHANNELS * CELL_GRID * CELL_GRID
FLOW_START = APPEARANCE + CELL_DIM + THUMB * THUMB
FEATURE_DIM = FLOW_START + FLOW_THUMB * FLOW_THUMB
