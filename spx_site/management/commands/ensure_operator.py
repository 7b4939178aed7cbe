import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the operator login (a superuser) if it does not exist. Username/password come from "
        "OPERATOR_USERNAME / OPERATOR_PASSWORD, else 'operator' and a generated password, printed once."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("OPERATOR_USERNAME", "operator")
        saved = settings.VAR_DIR / "operator_login.txt"  # generated logins only; 0600, never in git
        if User.objects.filter(username=username).exists():
            hint = f" (password in {saved})" if saved.exists() else ""
            self.stdout.write(f"operator login exists: {username}{hint}")
            return
        password = os.environ.get("OPERATOR_PASSWORD", "")
        shown = "(from OPERATOR_PASSWORD)"
        if not password:
            password = shown = secrets.token_urlsafe(12)
            saved.write_text(f"{username} {password}\n")
            saved.chmod(0o600)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"operator login created: {username} / {shown}"))
