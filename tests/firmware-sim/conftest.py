"""Fixtures for the wearable tests: an ack responder on a real broker, unique ids."""

from delivery_fixtures import responder, tag, wait_for

__all__ = ["responder", "tag", "wait_for"]
