"""The visitor's help-request form (``/help/new/``)."""

from __future__ import annotations

from django import forms

from chat.models import DEFAULT_VISITOR_NAME, MAX_FEEDBACK_CHARS, HelpRequest


class HelpRequestForm(forms.ModelForm):  # type: ignore[type-arg]
    """Only the description is required: a visitor need give no name and no way to reach them."""

    class Meta:
        model = HelpRequest
        fields = ["name", "contact", "category", "description"]
        labels = {
            "name": "What should we call you? (optional)",
            "contact": "How to reach you (optional)",
            "description": "How can we help?",
        }
        help_texts = {
            "name": f'Any name will do, it need not be your real one. Leave it empty to be "{DEFAULT_VISITOR_NAME}".',
            "contact": "Only if you want us to be able to reach you outside this chat.",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 5})}

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("label_suffix", "")  # "(optional)" and "?" end the labels, not a colon
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # The model's default would pre-fill the box; an empty box with a placeholder says the same.
        self.fields["name"].initial = ""
        self.fields["name"].widget.attrs["placeholder"] = DEFAULT_VISITOR_NAME


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
