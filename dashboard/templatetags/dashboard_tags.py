from typing import Any

from django import template

from dashboard.selectors import dashboard_snapshot

register = template.Library()


@register.simple_tag
def control_room_snapshot() -> dict[str, Any]:
    """The dashboard as it is now, for the first paint of the admin index (live updates follow)."""
    return dashboard_snapshot()
