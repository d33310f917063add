"""The audit trail (issue 16): who read, redacted or exported a conversation, and redacted messages.

An ``AccessRecord`` keeps its request by foreign key (deleted only with the request row itself; an
anonymised request keeps its entries) and its user by foreign key set to NULL when the account goes,
with the username as it was. ``Message.redacted_at`` marks a message whose text staff removed.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0004_canned_replies'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='redacted_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.CreateModel(
            name='AccessRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('username', models.CharField(help_text="The account's username at the time.", max_length=150)),
                ('at', models.DateTimeField(default=django.utils.timezone.now)),
                ('channel', models.CharField(choices=[('page', 'Page'), ('api', 'REST API'), ('socket', 'WebSocket'), ('sse', 'SSE stream'), ('admin', 'Admin'), ('export', 'Export')], max_length=10)),
                ('action', models.CharField(choices=[('read', 'Read'), ('redact', 'Redact'), ('export', 'Export'), ('erase', 'Erase')], default='read', max_length=10)),
                ('message_number', models.BigIntegerField(blank=True, null=True)),
                ('reason', models.TextField(blank=True, max_length=500)),
                ('help_request', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='access_records', to='chat.helprequest')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-at', '-id'],
                'indexes': [models.Index(fields=['help_request', 'user', 'channel', 'at'], name='access_record_dedupe'), models.Index(fields=['user', 'at'], name='access_record_user_at'), models.Index(fields=['at'], name='access_record_at')],
            },
        ),
    ]
