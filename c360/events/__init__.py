"""Real-time events (`POST /v1/events`): validation, deduplication, the lake's `events/`, identity stitching
and the real-time signals pushed to the Feast online store."""

from c360.events.signals import read_signals
from c360.events.sink import AcceptResult, BatchTooLargeError, EventSink, open_event_sink

__all__ = ["AcceptResult", "BatchTooLargeError", "EventSink", "open_event_sink", "read_signals"]
