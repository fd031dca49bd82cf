"""Prometheus metrics of the edge agent, defined once and updated where the work happens.

Names follow ``streetsense_<thing>_<unit>``; every drop is counted with a reason.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FRAMES_DECODED = Counter(
    "streetsense_frames_decoded_total", "Frames decoded (grabbed) per camera.", ["camera"]
)
FRAMES_ANALYSED = Counter(
    "streetsense_frames_analysed_total",
    "Sampled frames that went through preprocessing and the frame model.",
    ["camera"],
)
CLIPS_ANALYSED = Counter(
    "streetsense_clips_analysed_total", "Clips classified per camera.", ["camera"]
)
DROPS = Counter(
    "streetsense_drops_total",
    "Frames or clips dropped, by stage and reason (an analysis gap when non-zero).",
    ["camera", "stage", "reason"],
)
DECODE_ERRORS = Counter(
    "streetsense_decode_errors_total", "Frames the decoder failed on.", ["camera"]
)
RECONNECTS = Counter(
    "streetsense_camera_reconnects_total", "Times a camera stream was reopened.", ["camera"]
)
CAMERA_UP = Gauge(
    "streetsense_camera_up", "1 while the camera delivers frames, 0 when it is down.", ["camera"]
)
CAMERA_FPS = Gauge("streetsense_camera_fps", "Frames per second received recently.", ["camera"])
CAMERA_LAST_FRAME_AGE = Gauge(
    "streetsense_camera_last_frame_age_seconds",
    "Seconds since the last frame arrived from the camera.",
    ["camera"],
)
INFERENCE_SECONDS = Histogram(
    "streetsense_inference_seconds",
    "Wall time of one onnxruntime run, by stage (frame_model, clip_head, clip_model).",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BATCH_SIZE = Histogram(
    "streetsense_inference_batch_size",
    "Items per onnxruntime run, by stage.",
    ["stage"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
)
QUEUE_DEPTH = Gauge("streetsense_queue_depth", "Items waiting in an internal queue.", ["queue"])
SENSOR_READINGS = Counter(
    "streetsense_sensor_readings_total", "Sensor readings accepted, by quantity.", ["quantity"]
)
SENSOR_REJECTED = Counter(
    "streetsense_sensor_rejected_total",
    "Sensor payloads rejected, by transport and reason.",
    ["transport", "reason"],
)
EVENTS = Counter(
    "streetsense_events_total", "Events raised, by category and phase.", ["category", "phase"]
)
OUTBOX_BACKLOG = Gauge(
    "streetsense_outbox_backlog", "Events on disk not yet acknowledged by the broker."
)
OUTBOX_OLDEST_AGE = Gauge(
    "streetsense_outbox_oldest_age_seconds", "Age of the oldest unacknowledged event."
)
OUTBOX_PUBLISHED = Counter(
    "streetsense_outbox_published_total", "Events the broker acknowledged (PUBACK)."
)
BROKER_CONNECTED = Gauge("streetsense_broker_connected", "1 while the MQTT connection is up.")
EVENT_LATENCY = Histogram(
    "streetsense_event_latency_seconds",
    "From the capture of a clip's last frame to the broker's PUBACK of its event.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CLASSIFICATION_LATENCY = Histogram(
    "streetsense_classification_latency_seconds",
    "From the capture of a clip's last frame to its classification (decode, preprocessing, "
    "queueing, batching and inference); the rest of event latency is fusion and publishing.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OPERATOR_ACTIONS = Counter(
    "streetsense_operator_actions_total",
    "Operator answers received back from the adapter.",
    ["action"],
)
