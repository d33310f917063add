"""Live topics: extra feeds a notification socket subscribes to, registered by the apps that own them.

A socket sends ``{"type":"subscribe","topics":["dashboard"]}`` (docs/protocol.md). A name registered
here is a topic: only people with its role may subscribe; the socket joins the topic's group
(``groups.topic_group(name)``), calls the topic's ``watch()`` (which returns the frame to send at
once, if any) and, when it leaves, ``unwatch()``. The owner sends the topic's updates with
``topic_event(name, frame)`` to that group; subscribed sockets forward the frame as it is. Any other
name in ``subscribe`` is a kind prefix to unmute.

Apps register their topics in ``AppConfig.ready()``, so the socket imports no app that feeds it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

#: The group event that carries a topic's frame to its subscribers.
TOPIC_FRAME = "topic.frame"


@dataclass(frozen=True)
class Topic:
    #: Lowercase words and digits, dotted (the ``subscribe`` frame's rule), e.g. ``dashboard``.
    name: str
    #: Who may subscribe: a role name (``charity.roles.Role``).
    role: str
    #: A socket of this process subscribed: start what feeds the topic; returns the first frame.
    watch: Callable[[], Awaitable[dict[str, Any] | None]]
    #: A subscribed socket of this process left (unsubscribed, lost the role, or closed).
    unwatch: Callable[[], None]


class TopicFrameEvent(TypedDict):
    type: str
    topic: str
    frame: dict[str, Any]


_topics: dict[str, Topic] = {}


def topic_register(topic: Topic) -> None:
    """Declare ``topic`` (from an ``AppConfig.ready()``); registering a name again replaces it."""
    _topics[topic.name] = topic


def topic_get(name: str) -> Topic | None:
    return _topics.get(name)


def topic_names() -> frozenset[str]:
    return frozenset(_topics)


def topic_event(name: str, frame: dict[str, Any]) -> TopicFrameEvent:
    """The group event that sends ``frame`` to the sockets subscribed to topic ``name``."""
    return {"type": TOPIC_FRAME, "topic": name, "frame": frame}
