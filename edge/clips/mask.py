"""Privacy masks: configured polygons blanked on the full-resolution frame."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from edge.clips.config import PrivacyMaskConfig
from edge.values import Image

_Corners = list[npt.NDArray[np.int32]]


class PrivacyMasker:
    """Fills polygons given in normalised coordinates with black.

    The pixel corners are computed once per resolution and cached, so masking a
    frame is one ``cv2.fillPoly`` (plus a copy unless asked to work in place).
    Measured at 720p: copy + fill ~0.12 ms, a full-frame ``bitwise_and`` ~0.44 ms.
    """

    def __init__(self, masks: Sequence[PrivacyMaskConfig]) -> None:
        self._polygons = [np.asarray(mask.points, dtype=np.float64) for mask in masks]
        self._cache: dict[tuple[int, int], _Corners] = {}

    @property
    def active(self) -> bool:
        """Whether any polygon is configured."""
        return bool(self._polygons)

    def corners(self, height: int, width: int) -> _Corners:
        """Polygon corners in pixels for this resolution (cached)."""
        key = (height, width)
        corners = self._cache.get(key)
        if corners is None:
            scale = np.array([width, height], dtype=np.float64)
            corners = [np.round(poly * scale).astype(np.int32) for poly in self._polygons]
            self._cache[key] = corners
        return corners

    def apply(self, image: Image, *, in_place: bool = False) -> Image:
        """The image with every polygon filled black.

        Returns ``image`` itself when no polygon is configured or ``in_place`` is
        set, otherwise a masked copy (the caller's array is left untouched).
        """
        if not self._polygons:
            return image
        target = image if in_place else image.copy()
        cv2.fillPoly(target, self.corners(image.shape[0], image.shape[1]), (0, 0, 0))
        return target
