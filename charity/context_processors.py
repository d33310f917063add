from typing import Any

from django.http import HttpRequest

from charity.roles import roles_for


def roles(request: HttpRequest) -> dict[str, Any]:
    """``user_roles``: the set of role names of whoever is looking at the page."""
    return {"user_roles": {role.value for role in roles_for(getattr(request, "user", None))}}
