from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from school.api import api
from school.views import healthz, robots_txt

admin.site.site_header = "Semester administration"
admin.site.site_title = "Semester admin"
# Next to the filters, Django's app sidebar left lists 630 pixels on a 1280-pixel screen, too few for their columns;
# every page is one click from "Home" in the breadcrumbs.
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("robots.txt", robots_txt, name="robots_txt"),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("delivery.urls")),
    path("", include("courses.urls")),
]
