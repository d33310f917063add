from decimal import Decimal

from django import forms


class DonationForm(forms.Form):
    amount = forms.DecimalField(
        min_value=Decimal("1"), max_value=Decimal("100000"), decimal_places=2, label="Amount (GBP)", initial=20
    )
