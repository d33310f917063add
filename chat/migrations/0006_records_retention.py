"""Records (issue 16): the transcript-by-email choice, and when a request was anonymised or erased."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0005_audit_trail"),
    ]

    operations = [
        migrations.AddField(
            model_name="helprequest",
            name="transcript_email_requested",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="helprequest",
            name="anonymised_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="helprequest",
            name="erased_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="helprequest",
            name="erased_by",
            field=models.CharField(blank=True, editable=False, max_length=10),
        ),
    ]
