"""Stand-ins for the peers the newsletter talks to, real servers on local ports.

``sendgrid`` answers the SendGrid v3 mail-send API as the provider documents it;
``smtp`` is a local SMTP server. Both are pytest plugins (tests/conftest.py lists
them), so their fixtures reach every test without an import.
"""
