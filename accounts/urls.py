from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

app_name = "accounts"

urlpatterns = [
    # Replaced by the email-link sign-in of the website issue; until then, Django's login form.
    path("sign-in/", auth_views.LoginView.as_view(template_name="accounts/sign_in.html"), name="sign_in"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="sign_out"),
]
