from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from shifts.models import Shift
from shifts.services import shift_changed


@admin.register(Shift)
class ShiftAdmin(admin.ModelAdmin):
    list_display = ["title", "location", "starts_at", "ends_at"]
    filter_horizontal = ["volunteers"]
    search_fields = ["title", "location"]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # After the many-to-many is saved, so newly added volunteers hear about it too.
        super().save_related(request, form, formsets, change)
        shift_changed(shift=form.instance, what="changed" if change else "added")
