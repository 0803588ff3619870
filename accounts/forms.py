from __future__ import annotations

from django import forms

EMAIL_REQUIRED = "Please enter your email address."
EMAIL_INVALID = "That does not look like an email address. Please check it."
TOKEN_NAME_REQUIRED = "Please give the token a name, so you can recognise it later."


class SignInForm(forms.Form):
    email = forms.EmailField(
        label="Your email address",
        max_length=254,
        error_messages={"required": EMAIL_REQUIRED, "invalid": EMAIL_INVALID},
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        error_messages={"required": TOKEN_NAME_REQUIRED},
        help_text="For example: “my notes app”.",
    )
