"""Template tags of the visitors' safety features: ``{% quick_exit %}``, the "Leave this site" button."""

from __future__ import annotations

from typing import Any

from django import template

from chat.app_settings import app_settings

register = template.Library()


@register.inclusion_tag("chat/_quick_exit.html")
def quick_exit() -> dict[str, Any]:
    """The button (a plain link without JavaScript) and its script, chat/exit.js; put it first in
    <body> so it comes before everything else in keyboard order. The page's CSRF token (copied into
    the tag's context by Django) lets the script tell the site that this browser left."""
    return {"quick_exit_url": app_settings.QUICK_EXIT_URL}
