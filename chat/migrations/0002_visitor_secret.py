"""No session id at rest, and a per-request visitor secret (issue 14, items 1 and 4).

``visitor_session_key`` held the browser's live ``sessionid``: it is emptied first (so no copy of
the value outlives the migration, even where dropping a column only hides it), then dropped.
``visitor_token_hash`` holds the keyed hash of a random per-request secret. Existing requests get a
random hash nobody knows the secret of: their old tokens stop working (they were signatures of the
public id), while the browsers that own them by session keep access (chat.visitors).
"""

import secrets

from django.db import migrations, models


def clear_session_keys(apps, schema_editor):
    """Empty the column; first end every stored session that logs someone in (a staff member or a
    volunteer who used the form): its id was shown in the admin, and it would be that person."""
    from importlib import import_module

    from django.conf import settings

    HelpRequest = apps.get_model("chat", "HelpRequest")
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = HelpRequest.objects.exclude(visitor_session_key="").values_list("visitor_session_key", flat=True)
    for key in keys.iterator(chunk_size=1000):
        session = store(session_key=key)
        if session.load().get("_auth_user_id"):
            session.delete()
    HelpRequest.objects.exclude(visitor_session_key="").update(visitor_session_key="")


def give_unknown_secrets(apps, schema_editor):
    HelpRequest = apps.get_model("chat", "HelpRequest")
    batch = []
    for help_request in HelpRequest.objects.filter(visitor_token_hash="").only("pk").iterator(chunk_size=1000):
        help_request.visitor_token_hash = secrets.token_hex(32)
        batch.append(help_request)
        if len(batch) >= 1000:
            HelpRequest.objects.bulk_update(batch, ["visitor_token_hash"])
            batch = []
    HelpRequest.objects.bulk_update(batch, ["visitor_token_hash"])


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]

    operations = [
        # Reversing leaves the restored column empty: the values are gone for good.
        migrations.RunPython(clear_session_keys, migrations.RunPython.noop),
        migrations.RemoveField(model_name="helprequest", name="visitor_session_key"),
        migrations.AddField(
            model_name="helprequest",
            name="visitor_token_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(give_unknown_secrets, migrations.RunPython.noop),
    ]
