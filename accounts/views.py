from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import ApiTokenForm, SignInForm
from accounts.models import ApiToken, User
from accounts.services import (
    MagicLinkError,
    api_token_create,
    api_token_revoke,
    magic_link_check,
    magic_link_redeem,
    magic_link_request,
    safe_next_url,
)
from school.http import client_ip

TOKEN_REVOKED = "The token was revoked: programs using it can no longer reach your account."


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Email-first sign-in: the learner gives an address and we email them a one-time link."""
    next_url = safe_next_url(request.POST.get("next") or request.GET.get("next", ""))
    if request.user.is_authenticated and request.method == "GET":
        return HttpResponseRedirect(next_url)
    form = SignInForm(request.POST or None, initial={"next": next_url})
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        try:
            magic_link_request(email=email, ip=client_ip(request), next_url=next_url)
        except MagicLinkError as error:
            form.add_error("email", str(error))
        else:
            # The same answer whether or not the address has an account, so the page reveals nobody.
            return render(request, "accounts/sign_in_sent.html", {"email": email})
    return render(request, "accounts/sign_in.html", {"form": form}, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def magic_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET only shows a button: mail scanners that open links must not use up the one-time link."""
    try:
        link = magic_link_redeem(token=token) if request.method == "POST" else magic_link_check(token=token)
    except MagicLinkError as error:
        context = {"error": str(error), "form": SignInForm()}
        return render(request, "accounts/magic_link_invalid.html", context, status=400)
    if request.method == "GET":
        return render(request, "accounts/magic_link.html", {"email": link.email})
    assert isinstance(link.user, User)
    login(request, link.user, backend="accounts.backends.AccountBackend")
    # login() tells delivery (user_logged_in), which carries the visitor's work into the account.
    return HttpResponseRedirect(safe_next_url(link.next_url))  # a path, never taken for a URL name


@login_required
@require_http_methods(["GET", "POST"])
def api_tokens(request: HttpRequest) -> HttpResponse:
    """The learner's API tokens; a new token is shown once, on the page that created it."""
    assert isinstance(request.user, User)
    form = ApiTokenForm(request.POST or None)
    created = ""
    if request.method == "POST" and form.is_valid():
        _, created = api_token_create(user=request.user, name=form.cleaned_data["name"])
        form = ApiTokenForm()
    tokens = ApiToken.objects.filter(user=request.user)
    context = {"form": form, "tokens": tokens, "created": created}
    return render(request, "accounts/api_tokens.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def api_token_delete(request: HttpRequest, token_id: int) -> HttpResponse:
    assert isinstance(request.user, User)
    if api_token_revoke(user=request.user, token_id=token_id):
        messages.success(request, TOKEN_REVOKED)
    return redirect("accounts:api_tokens")
