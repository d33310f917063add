"""The visitor's help-request form (``/help/new/``)."""

from __future__ import annotations

from django import forms

from chat.models import MAX_FEEDBACK_CHARS, HelpRequest


class HelpRequestForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = HelpRequest
        fields = ["name", "contact", "category", "description"]
        labels = {"name": "Your name", "contact": "How to reach you (optional)", "description": "How can we help?"}
        widgets = {"description": forms.Textarea(attrs={"rows": 5})}


class FeedbackForm(forms.Form):
    """The visitor's rating of the help, on their page once the request is resolved."""

    rating = forms.TypedChoiceField(
        label="How helpful was this conversation?",
        choices=[
            (str(n), f"{n}: {label}") for n, label in enumerate(["poor", "fair", "good", "very good", "excellent"], 1)
        ],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label="Anything you'd like to tell us? (optional)",
        required=False,
        max_length=MAX_FEEDBACK_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
