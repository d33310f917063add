"""The visitor's help-request form (``/help/new/``)."""

from __future__ import annotations

from django import forms

from chat.models import HelpRequest


class HelpRequestForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = HelpRequest
        fields = ["name", "contact", "category", "description"]
        labels = {"name": "Your name", "contact": "How to reach you (optional)", "description": "How can we help?"}
        widgets = {"description": forms.Textarea(attrs={"rows": 5})}
