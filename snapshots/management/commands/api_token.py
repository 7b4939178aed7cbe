from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from snapshots.api_tokens import token_create, token_revoke
from snapshots.models import ApiToken


class Command(BaseCommand):
    help = (
        "API tokens for scripts. Make one: --user U --scope read|operator [--name N] (the key is printed once; "
        "only its SHA-256 is kept). --list shows the tokens (never their keys); --revoke ID revokes one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", help="the username the token acts as")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default=ApiToken.Scope.READ)
        parser.add_argument("--name", default="", help="what the token is for")
        parser.add_argument("--list", action="store_true", help="list the tokens")
        parser.add_argument("--revoke", type=int, metavar="ID", help="revoke the token with this id")

    def handle(self, *args, **options):
        if options["list"]:
            for t in ApiToken.objects.select_related("user"):
                state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
                used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                self.stdout.write(f"{t.pk:>4}  {t.prefix}…  {t.user.username:<16} {t.scope:<9} {state:<24} last used {used}  {t.name}")
            return
        if options["revoke"] is not None:
            token = ApiToken.objects.filter(pk=options["revoke"]).first()
            if token is None:
                raise CommandError(f"no token with id {options['revoke']}")
            done = token_revoke(token)
            self.stdout.write(f"token {token.pk} ({token.prefix}…) " + ("revoked" if done else "was already revoked"))
            return
        if not options["user"]:
            raise CommandError("--user is required to make a token (or use --list / --revoke ID)")
        user = get_user_model().objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"no active user {options['user']!r}")
        token, key = token_create(user=user, scope=options["scope"], name=options["name"])
        self.stdout.write(self.style.SUCCESS(f"token {token.pk} for {user.username} ({token.scope}); shown once, keep it:"))
        self.stdout.write(key)
        self.stdout.write("use it as the header  Authorization: Token <key>")
