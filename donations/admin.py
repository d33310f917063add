from django.contrib import admin

from donations.models import Donation


@admin.register(Donation)
class DonationAdmin(admin.ModelAdmin):
    list_display = ["public_id", "donor", "amount", "currency", "status", "created_at", "confirmed_at"]
    list_filter = ["status", "currency"]
    readonly_fields = ["public_id", "created_at", "updated_at", "confirmed_at"]
    search_fields = ["donor__username"]
