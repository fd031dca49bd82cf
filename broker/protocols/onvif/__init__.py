"""ONVIF: a device-side event service (pull points) and a client for cameras' own analytics.

Pure codec modules (soap, wssecurity, notification, topics, device_codec,
event_codec, timeexpr) build and parse SOAP 1.2 envelopes without I/O;
``service`` dispatches requests, ``server`` serves them over HTTP, ``output``
is the ``onvif_events`` output and ``inbound`` the ``onvif_camera`` source.
"""
