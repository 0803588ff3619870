from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "school.settings")
os.environ["SEMESTER_WEB_PROCESS"] = "1"  # school.settings: the web process logs what django-axes says
application = get_wsgi_application()
