"""The staff page for API tokens (``/api-tokens/``): make one (its key shown once, on this response
only), list them (never their keys) and revoke one. Any staff user may look; making a token needs
``snapshots.add_apitoken`` and revoking one ``snapshots.change_apitoken`` (an operator token can
launch work through the API, so minting one is an act, not a view)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from snapshots.api_tokens import token_create, token_revoke
from snapshots.models import ApiToken
from snapshots.permissions import TOKEN_CREATE, TOKEN_REVOKE, require_perm, user_can


class TokenForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True).order_by("username"))
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    name = forms.CharField(max_length=80, required=False, help_text="what the token is for")


@never_cache
@staff_member_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    new_key = None
    new_token = None
    if request.method == "POST":
        require_perm(request, TOKEN_CREATE)
        form = TokenForm(request.POST)
        if form.is_valid():
            new_token, new_key = token_create(user=form.cleaned_data["user"], scope=form.cleaned_data["scope"],
                                              name=form.cleaned_data["name"])
            form = TokenForm(initial={"user": request.user.pk})
    else:
        form = TokenForm(initial={"user": request.user.pk})
    tokens = ApiToken.objects.select_related("user")[:500]
    return render(request, "api_tokens.html", {
        "form": form, "tokens": tokens, "new_key": new_key, "new_token": new_token,
        "can_create": user_can(request.user, TOKEN_CREATE), "can_revoke": user_can(request.user, TOKEN_REVOKE),
    })


@staff_member_required
@require_POST
def token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    require_perm(request, TOKEN_REVOKE)
    token = get_object_or_404(ApiToken, pk=pk)
    if token_revoke(token):
        messages.success(request, f"token {token.prefix}… revoked")
    return redirect("api-tokens")
