"""Privacy masks and preprocessing: masks first, exact resize and normalisation values."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from edge.clips import InvalidFrameError, Preprocessor, PrivacyMaskConfig, PrivacyMasker
from edge.values import Frame
from models.card import InputSpec, Normalization

SPEC_RGB = InputSpec(frames=4, height=32, width=32, color="rgb", sample_fps=8, clip_stride_frames=1)
SPEC_BGR = InputSpec(frames=4, height=32, width=32, color="bgr", sample_fps=8, clip_stride_frames=1)
NORM = Normalization(scale=255.0, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125))
LEFT_HALF = PrivacyMaskConfig(name="left", points=[(0, 0), (0.5, 0), (0.5, 1), (0, 1)])


def _frame(image: np.ndarray) -> Frame:
    return Frame(camera="cam", seq=7, captured_at=1000.0, image=image)


def _solid(height: int, width: int, bgr: tuple[int, int, int]) -> np.ndarray:
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = bgr
    return image


@pytest.mark.parametrize(("height", "width"), [(48, 64), (96, 128), (720, 1280)])
def test_mask_blanks_inside_and_keeps_outside_at_any_resolution(height: int, width: int) -> None:
    image = _solid(height, width, (10, 100, 200))
    original = image.copy()
    masked = PrivacyMasker([LEFT_HALF]).apply(image)
    assert masked[:, : width // 2 - 1].max() == 0
    assert (masked[:, width // 2 + 1 :] == (10, 100, 200)).all()
    np.testing.assert_array_equal(image, original)  # the caller's frame is untouched


def test_mask_of_a_triangle_and_in_place() -> None:
    triangle = PrivacyMaskConfig(points=[(0, 0), (1, 0), (0, 1)])
    image = _solid(100, 100, (255, 255, 255))
    result = PrivacyMasker([triangle]).apply(image, in_place=True)
    assert result is image
    assert image[10, 10].tolist() == [0, 0, 0]  # inside, near the top-left corner
    assert image[90, 90].tolist() == [255, 255, 255]  # beyond the diagonal


def test_no_masks_returns_the_same_image() -> None:
    image = _solid(8, 8, (1, 2, 3))
    assert PrivacyMasker([]).apply(image) is image
    frame = _frame(image)
    assert Preprocessor(SPEC_RGB, NORM).mask(frame) is frame


def test_rgb_normalisation_values_are_exact() -> None:
    processed = Preprocessor(SPEC_RGB, NORM).process(_frame(_solid(48, 64, (10, 100, 200))))
    tensor = processed.prepared.tensor
    assert tensor.shape == (3, 32, 32)
    assert tensor.dtype == np.float32
    assert tensor.flags["C_CONTIGUOUS"]
    rgb = (200, 100, 10)
    for channel in range(3):
        expected = (rgb[channel] / 255.0 - NORM.mean[channel]) / NORM.std[channel]
        np.testing.assert_allclose(tensor[channel], expected, rtol=0, atol=1e-5)
    assert processed.prepared.seq == 7
    assert processed.prepared.captured_at == 1000.0
    assert processed.prepared.camera == "cam"


def test_bgr_model_keeps_channel_order() -> None:
    tensor = Preprocessor(SPEC_BGR, NORM).process(_frame(_solid(48, 64, (10, 100, 200))))
    bgr = (10, 100, 200)
    for channel in range(3):
        expected = (bgr[channel] / 255.0 - NORM.mean[channel]) / NORM.std[channel]
        np.testing.assert_allclose(tensor.prepared.tensor[channel], expected, atol=1e-5)


def test_resize_matches_bilinear_reference() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(90, 160, 3), dtype=np.uint8)
    tensor = Preprocessor(SPEC_RGB, NORM).process(_frame(image)).prepared.tensor
    resized = cv2.resize(image, (32, 32), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
    reference = (resized.astype(np.float64) / 255.0 - NORM.mean) / NORM.std
    np.testing.assert_allclose(tensor, reference.transpose(2, 0, 1), atol=1e-4)


def test_mask_is_applied_before_the_model_sees_the_frame() -> None:
    image = _solid(64, 64, (255, 255, 255))
    processed = Preprocessor(SPEC_RGB, NORM, [LEFT_HALF]).process(_frame(image))
    black = (0.0 - NORM.mean[0]) / NORM.std[0]
    white = (1.0 - NORM.mean[0]) / NORM.std[0]
    tensor = processed.prepared.tensor
    np.testing.assert_allclose(tensor[0, :, :15], black, atol=1e-5)
    np.testing.assert_allclose(tensor[0, :, 17:], white, atol=1e-5)
    # the full-resolution snapshot form is masked too, the input frame is not
    assert processed.masked.image[:, :31].max() == 0
    assert processed.masked.image[:, 33:].min() == 255
    assert image.min() == 255


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((10, 10), dtype=np.uint8),
        np.zeros((10, 10, 4), dtype=np.uint8),
        np.zeros((10, 10, 3), dtype=np.float32),
    ],
    ids=["grey", "bgra", "float"],
)
def test_non_bgr_frames_are_rejected(image: np.ndarray) -> None:
    with pytest.raises(InvalidFrameError, match="HxWx3 uint8"):
        Preprocessor(SPEC_RGB, NORM).process(_frame(image))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"points": [[0, 0], [1, 0]]}, "at least 3"),
        ({"points": [[0, 0], [1.2, 0], [0, 1]]}, "less than or equal to 1"),
        ({"points": [[0, 0], [-0.1, 0], [0, 1]]}, "greater than or equal to 0"),
        ({"points": [[0, 0], [0.5, 0.5], [1, 1]]}, "zero area"),
        ({"points": [[0, 0], [1, 0], [0, 1]], "colour": "red"}, "Extra inputs"),
    ],
)
def test_mask_config_rejects_bad_polygons(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PrivacyMaskConfig.model_validate(raw)
