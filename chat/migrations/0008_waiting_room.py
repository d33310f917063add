"""The honest waiting room (issue 16): when a helper first replied (the wait estimate's history), a
request left while nobody was on duty, the urgent flag, and the admin-edited opening hours,
alternatives and emergency text.

Existing requests get ``first_reply_at`` from their first message by a volunteer or staff member, so
the estimate has a history from the first day.
"""

from django.db import migrations, models
from django.db.models import Min, OuterRef, Subquery


def backfill_first_reply(apps, schema_editor):
    HelpRequest = apps.get_model("chat", "HelpRequest")
    Message = apps.get_model("chat", "Message")
    first = (
        Message.objects.filter(help_request=OuterRef("pk"), author_kind__in=["volunteer", "staff"])
        .values("help_request")
        .annotate(first=Min("created_at"))
        .values("first")
    )
    HelpRequest.objects.filter(first_reply_at__isnull=True).update(first_reply_at=Subquery(first))


class Migration(migrations.Migration):

    dependencies = [
        ('chat', '0007_exit_visitor_name_default'),
    ]

    operations = [
        migrations.CreateModel(
            name='Alternative',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('description', models.CharField(blank=True, max_length=300)),
                ('kind', models.CharField(choices=[('emergency', 'Emergency'), ('phone', 'Phone line'), ('website', 'Website')], default='phone', max_length=10)),
                ('phone', models.CharField(blank=True, help_text='A number to call, as people dial it.', max_length=40)),
                ('url', models.URLField(blank=True, help_text='A web address (https://…).')),
                ('order', models.PositiveSmallIntegerField(default=0)),
                ('active', models.BooleanField(default=True)),
            ],
            options={
                'ordering': ['order', 'id'],
            },
        ),
        migrations.CreateModel(
            name='HelplineSettings',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('emergency_text', models.CharField(default='If you are in danger now, call 999. If you are thinking about ending your life, call Samaritans free on 116 123.', help_text='Shown at the top of every visitor page, and above the conversation of an urgent request.', max_length=300)),
            ],
            options={
                'verbose_name': 'helpline settings',
                'verbose_name_plural': 'helpline settings',
            },
        ),
        migrations.CreateModel(
            name='OpeningHours',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('weekday', models.PositiveSmallIntegerField(choices=[(0, 'Monday'), (1, 'Tuesday'), (2, 'Wednesday'), (3, 'Thursday'), (4, 'Friday'), (5, 'Saturday'), (6, 'Sunday')])),
                ('opens', models.TimeField()),
                ('closes', models.TimeField(help_text='At or before the opening time: the range ends the next day.')),
            ],
            options={
                'verbose_name_plural': 'opening hours',
                'ordering': ['weekday', 'opens'],
            },
        ),
        migrations.AddField(
            model_name='helprequest',
            name='first_reply_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='helprequest',
            name='left_offline',
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name='helprequest',
            name='urgent',
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name='helprequest',
            name='urgent_reason',
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.AddIndex(
            model_name='helprequest',
            index=models.Index(fields=['first_reply_at'], name='help_request_first_reply'),
        ),
        migrations.RunPython(backfill_first_reply, migrations.RunPython.noop),
    ]
