"""SPX Tools settings: one module, configured by environment variables (see ``.env.example``).

With no environment at all it runs embedded: SQLite in ``var/``, a file-system Celery broker
(no server), and the simulated market. Production (docker-compose) sets ``DATABASE_URL``
(PostgreSQL), ``CELERY_BROKER_URL`` (Redis), ``DJANGO_SECRET_KEY`` and friends.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")  # real environment variables win over the file

VAR_DIR = Path(env("SPX_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# One switch for a deployment behind HTTPS (docker-compose sets it): secure cookies, the HTTPS
# redirect and HSTS default on, and the secrets are required (each still has its own variable).
# `manage.py check --deploy --fail-level WARNING` passes with it (spx_site/tests/test_deploy_check.py).
PRODUCTION = env.bool("SPX_PRODUCTION", default=False)
DEBUG = env.bool("DJANGO_DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG=true is refused with SPX_PRODUCTION=true")
REQUIRE_SECRETS = env.bool("SPX_REQUIRE_SECRET_KEY", default=PRODUCTION)


def _secret_key() -> str:
    """The env var, else a random key kept in ``var/`` (never in the repo) so sessions survive restarts."""
    key = env("DJANGO_SECRET_KEY", default="")
    if key:
        return key
    if REQUIRE_SECRETS:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set")
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CORS_ALLOWED_ORIGINS = env.list("CORS_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our static files: /api/docs works offline
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "snapshots",
    "strategy",
    "execution",
    "backtests",
    "mlmodels",
    "spx_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "spx_site.urls"
WSGI_APPLICATION = "spx_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "spx_site.context_processors.api_security",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside a writer, IMMEDIATE takes
    # the write lock up front (no lock-upgrade deadlocks) and the timeout waits instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so the end-to-end test's worker and beat processes see the test DB;
    # one per test process, so two test runs on one checkout never share (and corrupt) a file.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_db_{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Time: the database stores UTC; we reason in New York time ------------------------------
TIME_ZONE = env("TZ", default="America/New_York")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns about a missing folder before collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Login lockout (spx_site/login.py): this many failed logins for one username, or from one client
# address, within the window refuse further attempts (429) until the window has passed.
LOGIN_MAX_FAILURES = env.int("LOGIN_MAX_FAILURES", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)

# --- Security (production values come from the environment) ---------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^health$"]  # a load balancer's plain-HTTP health probe
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
X_FRAME_OPTIONS = "DENY"

# --- Celery ----------------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "celery-broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The server-less default: producers and consumers share one folder of message files.
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # exchange tables; default is ./control
        "store_processed": False,
        "polling_interval": 0.2,  # seconds between looks at the queue folder (kombu's default: 1)
    }
# Queues: live trading work (captures, entry windows, orders, marks) never waits behind a backtest
# chunk or a training run; each queue has its own workers (README "Workers and queues").
# CELERY_QUEUE_SUFFIX (default none) is appended to each name, so that two deployments, or two test
# runs, can share one Redis without taking each other's messages (workers then need -Q live<suffix>, …).
CELERY_QUEUE_SUFFIX = env("CELERY_QUEUE_SUFFIX", default="")
CELERY_QUEUE_LIVE, CELERY_QUEUE_BACKTESTS, CELERY_QUEUE_ML = (
    f"{name}{CELERY_QUEUE_SUFFIX}" for name in ("live", "backtests", "ml"))
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_LIVE  # Celery's own tasks too; a worker without -Q consumes it
# Time limits per kind of task (seconds; soft raises SoftTimeLimitExceeded in the task, hard kills
# the process). The global pair is the live one; batch tasks get theirs in the annotations below.
LIVE_TASK_SOFT_TIME_LIMIT_S = env.int("LIVE_TASK_SOFT_TIME_LIMIT_S", default=120)
LIVE_TASK_TIME_LIMIT_S = env.int("LIVE_TASK_TIME_LIMIT_S", default=180)
BACKTEST_CHUNK_SOFT_TIME_LIMIT_S = env.float("BACKTEST_CHUNK_SOFT_TIME_LIMIT_S", default=1800)
BACKTEST_CHUNK_TIME_LIMIT_S = env.float("BACKTEST_CHUNK_TIME_LIMIT_S", default=2100)
ML_TASK_SOFT_TIME_LIMIT_S = env.int("ML_TASK_SOFT_TIME_LIMIT_S", default=1800)
ML_TASK_TIME_LIMIT_S = env.int("ML_TASK_TIME_LIMIT_S", default=2100)
BACKTEST_CHUNK_MAX_ATTEMPTS = env.int("BACKTEST_CHUNK_MAX_ATTEMPTS", default=3)  # then the run fails with the reason
# A chunk killed at its hard limit (its message is acknowledged) or whose worker vanished stays
# "running": the beat sweep requeues it once it was claimed more than the hard limit + this margin
# ago and has not written progress for this margin (which must exceed one replayed day and any
# clock skew between the workers' and beat's hosts). backtests.services.stuck_chunks_sweep.
BACKTEST_CHUNK_STUCK_MARGIN_S = env.float("BACKTEST_CHUNK_STUCK_MARGIN_S", default=300)
if BACKTEST_CHUNK_STUCK_MARGIN_S <= 0:
    raise ImproperlyConfigured(f"BACKTEST_CHUNK_STUCK_MARGIN_S={BACKTEST_CHUNK_STUCK_MARGIN_S} must be positive")
CELERY_TASK_SOFT_TIME_LIMIT = LIVE_TASK_SOFT_TIME_LIMIT_S
CELERY_TASK_TIME_LIMIT = LIVE_TASK_TIME_LIMIT_S
_BATCH_TASKS = {  # task name -> (queue, soft, hard)
    "backtests.tasks.chunk_run": (CELERY_QUEUE_BACKTESTS, BACKTEST_CHUNK_SOFT_TIME_LIMIT_S, BACKTEST_CHUNK_TIME_LIMIT_S),
    # A few queries: the live pair of limits, on the queue whose chunks it looks after.
    "backtests.tasks.stuck_chunks_sweep": (CELERY_QUEUE_BACKTESTS, LIVE_TASK_SOFT_TIME_LIMIT_S, LIVE_TASK_TIME_LIMIT_S),
    "mlmodels.tasks.train_run": (CELERY_QUEUE_ML, ML_TASK_SOFT_TIME_LIMIT_S, ML_TASK_TIME_LIMIT_S),
    "mlmodels.tasks.monitoring_check": (CELERY_QUEUE_ML, ML_TASK_SOFT_TIME_LIMIT_S, ML_TASK_TIME_LIMIT_S),
}
CELERY_TASK_ROUTES = {
    **{name: {"queue": queue} for name, (queue, _, _) in _BATCH_TASKS.items()},
    **{f"{app}.tasks.*": {"queue": CELERY_QUEUE_LIVE} for app in ("snapshots", "strategy", "execution")},
}
CELERY_TASK_ANNOTATIONS = {name: {"soft_time_limit": soft, "time_limit": hard} for name, (_, soft, hard) in _BATCH_TASKS.items()}
# Retries back off 1, 2, 4, ... s up to this (a row not committed yet, SQLite busy), a few times.
TASK_RETRY_BACKOFF_MAX_S = env.int("TASK_RETRY_BACKOFF_MAX_S", default=60)
TASK_RETRY_MAX = env.int("TASK_RETRY_MAX", default=5)
# Redis redelivers a message not acknowledged within this many seconds (acks_late: a running task's
# message, and every message waiting for its ETA/countdown). It must exceed the longest hard time
# limit and the longest countdown, or a task runs twice; countdowns beyond it are refused.
BROKER_VISIBILITY_TIMEOUT_S = env.int("BROKER_VISIBILITY_TIMEOUT_S", default=3600)
if BROKER_VISIBILITY_TIMEOUT_S <= max(LIVE_TASK_TIME_LIMIT_S, BACKTEST_CHUNK_TIME_LIMIT_S, ML_TASK_TIME_LIMIT_S,
                                      TASK_RETRY_BACKOFF_MAX_S):
    raise ImproperlyConfigured(
        f"BROKER_VISIBILITY_TIMEOUT_S={BROKER_VISIBILITY_TIMEOUT_S} must exceed every hard time limit and "
        f"TASK_RETRY_BACKOFF_MAX_S, or Redis redelivers messages still running or waiting")
if not CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT_S}
CELERY_TASK_IGNORE_RESULT = True  # jobs write their outcome to the database, not a result backend
CELERY_TASK_ACKS_LATE = True  # safe because every job is idempotent on its business key
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- Cache: API rate limits and login lockouts count here, so every process must share it ---
# CACHE_URL (e.g. redis://redis:6379/1) if set; else the Celery broker's Redis server when the
# broker is Redis (production), in the next database number (the cache never shares the broker's
# keyspace); else a file cache under SPX_VAR_DIR, which web processes on one machine share.


def cache_url_beside(broker_url: str) -> str:
    """The broker's Redis URL with the database number after the broker's (``/0`` → ``/1``)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(broker_url)
    db = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{db + 1}"))


_CACHE_URL = env("CACHE_URL", default="")
if not _CACHE_URL and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    _CACHE_URL = cache_url_beside(CELERY_BROKER_URL)
if _CACHE_URL:
    CACHES = {"default": env.cache_url_config(_CACHE_URL)}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(VAR_DIR / "cache")}}

# --- Market data ------------------------------------------------------------------------------
TRADIER_SANDBOX_URL = "https://sandbox.tradier.com/v1/"
TRADIER_ACCESS_TOKEN = env("TRADIER_ACCESS_TOKEN", default="")
TRADIER_ACCOUNT_ID = env("TRADIER_ACCOUNT_ID", default="")
TRADIER_BASE_URL = env("TRADIER_BASE_URL", default=TRADIER_SANDBOX_URL)
TRADIER_TIMEOUT_S = env.float("TRADIER_TIMEOUT_S", default=10.0)
# "tradier" when a token is set, else the deterministic simulated market. "opra-replay" serves the
# imported OPRA store (MARKET_DATA_DIR) as the market at the capture time, for replaying past days.
MARKET_DATA_PROVIDER = env("MARKET_DATA_PROVIDER", default="tradier" if TRADIER_ACCESS_TOKEN else "simulated")
SIMULATED_MARKET_SEED = env.int("SIMULATED_MARKET_SEED", default=7)
# Outside the session the simulated market replays the last session (the slot's position, modulo
# the session length) so a demo at night still sees quotes move; rows say "simulated-replay".
SIMULATED_REPLAY_OUTSIDE_RTH = env.bool("SIMULATED_REPLAY_OUTSIDE_RTH", default=True)
# Plant the calm/stressed regime in the simulated market (a known signal for ML tests; the model's
# RegimeParams defaults, simulated_market.py). Off = byte-identical to the market without it.
SIMULATED_REGIME = env("SIMULATED_REGIME", default="off")  # off | on | strong | stressed-vol (true/false = on/off)

SNAPSHOT_INTERVAL_MINUTES = env.int("SNAPSHOT_INTERVAL_MINUTES", default=5)
SNAPSHOT_UNDERLYING = env("SNAPSHOT_UNDERLYING", default="SPX")
SNAPSHOT_DTE_TARGETS = [int(x) for x in env.list("SNAPSHOT_DTE_TARGETS", default=["3", "5", "7"])]
SNAPSHOT_DTE_TOLERANCE_DAYS = env.int("SNAPSHOT_DTE_TOLERANCE_DAYS", default=1)
ALLOW_SNAPSHOT_OUTSIDE_RTH = env.bool("ALLOW_SNAPSHOT_OUTSIDE_RTH", default=False)
# Market context (VIX terms' chains, own VIX/VIX9D, GEX, forwards) with every capture.
SNAPSHOT_CONTEXT_ENABLED = env.bool("SNAPSHOT_CONTEXT_ENABLED", default=True)
if SNAPSHOT_INTERVAL_MINUTES < 1 or 60 % SNAPSHOT_INTERVAL_MINUTES:
    raise ImproperlyConfigured("SNAPSHOT_INTERVAL_MINUTES must divide 60 (1, 2, 3, 5, 10, 15, 20, 30, 60)")

# --- Execution ---------------------------------------------------------------------------------
# "tradier" (sandbox paper orders) needs a token and an account id; otherwise the simulated broker.
EXECUTION_BROKER = env("EXECUTION_BROKER", default="tradier" if TRADIER_ACCESS_TOKEN and TRADIER_ACCOUNT_ID else "simulated")
TRADIER_ALLOW_LIVE = env.bool("TRADIER_ALLOW_LIVE", default=False)  # orders anywhere but the sandbox
ORDER_WALK_AFTER_SECONDS = env.int("ORDER_WALK_AFTER_SECONDS", default=60)
ORDER_WALK_STEP = env.float("ORDER_WALK_STEP", default=0.05)
ORDER_WALK_MAX_STEPS = env.int("ORDER_WALK_MAX_STEPS", default=4)
ORDER_NOT_FOUND_CHECKS = env.int("ORDER_NOT_FOUND_CHECKS", default=5)
# Orders are refused locally when the session is closed or the series has settled (execution.services.order_gate).
# false only for a test that replays a past day through real worker processes (their clock is the wall clock);
# production settings (SPX_PRODUCTION / SPX_REQUIRE_SECRET_KEY) refuse to start with it off.
ORDER_MARKET_CHECK = env.bool("ORDER_MARKET_CHECK", default=True)
if (PRODUCTION or REQUIRE_SECRETS) and not ORDER_MARKET_CHECK:
    raise ImproperlyConfigured("ORDER_MARKET_CHECK=false is for tests only: it would send orders to a closed market")
# Per leg per contract, each way: Tradier's options commission ($0.35 a contract) plus Cboe's
# customer transaction fee on SPX options ($0.45 a contract at a premium of $1 or more, $0.36 below:
# the higher one, so cheap wings are slightly overcharged). 0 for a fee-free comparison.
FEES_PER_CONTRACT_USD = env.float("FEES_PER_CONTRACT_USD", default=0.80)
# Defaults of new strategy configs' exit rules (each config stores its own, frozen on every decision):
# take profit when debit <= (1 − 0.5) × credit; stop when the loss reaches 1.0 × credit (debit >= 2 × credit).
TAKE_PROFIT_FRACTION = env.float("TAKE_PROFIT_FRACTION", default=0.5)
STOP_LOSS_CREDITS = env.float("STOP_LOSS_CREDITS", default=1.0)
if "STOP_LOSS_MULTIPLE" in os.environ:  # the old name meant the closing debit ÷ credit (2.0 = −100 %)
    raise ImproperlyConfigured("STOP_LOSS_MULTIPLE (the closing debit as a multiple of the credit, 2.0 = -100 %) is "
                               "replaced by STOP_LOSS_CREDITS (the loss as a multiple of the credit, 1.0 = -100 %): "
                               "set STOP_LOSS_CREDITS to the old value minus 1 and remove STOP_LOSS_MULTIPLE")
if not 0 < TAKE_PROFIT_FRACTION <= 1 or not STOP_LOSS_CREDITS > 0:
    raise ImproperlyConfigured("TAKE_PROFIT_FRACTION must lie in (0, 1] and STOP_LOSS_CREDITS above 0 "
                               "(the loss, as a multiple of the credit, that stops a trade: 1.0 = debit 2 x credit)")
MARK_MAX_SNAPSHOT_AGE_MINUTES = env.int("MARK_MAX_SNAPSHOT_AGE_MINUTES", default=10)

# --- Backtest data ---------------------------------------------------------------------------
MARKET_DATA_DIR = Path(env("MARKET_DATA_DIR", default=str(VAR_DIR / "market-data")))
DATABENTO_API_KEY = env("DATABENTO_API_KEY", default="")
# The most one launch may ask for, refused before any work (backtests.services.params.run_limits_check):
# calendar days from start to end inclusive (1,830 ≈ five years), and strategies (config × window pairs).
BACKTEST_MAX_SPAN_DAYS = env.int("BACKTEST_MAX_SPAN_DAYS", default=1830)
BACKTEST_MAX_STRATEGIES = env.int("BACKTEST_MAX_STRATEGIES", default=200)
# A parameter sweep (backtests.services.sweeps) is one run of up to this many variants (refused before any work).
SWEEP_MAX_VARIANTS = env.int("SWEEP_MAX_VARIANTS", default=5000)
# Where runs keep their result files (a sweep's variant trades and daily PnL, Parquet), one folder per run;
# every worker and the web process must see the same folder (docker-compose: the shared /data volume).
BACKTEST_RESULTS_DIR = Path(env("BACKTEST_RESULTS_DIR", default=str(VAR_DIR / "backtest-results")))
# Capital and sizing, a view over a run's trades (backtests.engine.capital): the capital of each risk book (strategy)
# and the fraction of it one trade may lose, contracts = floor(capital x fraction / ((width - credit) x 100)).
# A run stores the pair it was launched with; these are the defaults (and a run stored without them uses them).
# 5 %, not 2 %: the seeded 25-point spreads risk ~$2,400 a contract, over 2 % of $100,000, so none would be taken.
BACKTEST_CAPITAL_USD = env.float("BACKTEST_CAPITAL_USD", default=100_000.0)
BACKTEST_RISK_FRACTION = env.float("BACKTEST_RISK_FRACTION", default=0.05)
if not 1_000 <= BACKTEST_CAPITAL_USD <= 1_000_000_000 or not 0.0001 <= BACKTEST_RISK_FRACTION <= 1:
    raise ImproperlyConfigured(f"BACKTEST_CAPITAL_USD={BACKTEST_CAPITAL_USD} must lie in [1000, 1e9] (USD per strategy) "
                               f"and BACKTEST_RISK_FRACTION={BACKTEST_RISK_FRACTION} in [0.0001, 1] (0.05 = 5 % of it "
                               "at risk per trade)")

# --- Meta-labeler -----------------------------------------------------------------------------
ML_MODEL_DIR = Path(env("ML_MODEL_DIR", default=str(VAR_DIR / "models")))  # UBJ model files + JSON sidecars
CODE_VERSION = env("CODE_VERSION", default="")  # stored with each model; empty = read from .git

# --- API ----------------------------------------------------------------------------------------
ADMIN_API_KEY = env("ADMIN_API_KEY", default="")  # unset: /api/admin/* is open (startup and the dashboard warn)
if REQUIRE_SECRETS and not ADMIN_API_KEY:
    raise ImproperlyConfigured(
        "ADMIN_API_KEY must be set when SPX_REQUIRE_SECRET_KEY=true (production): without it /api/admin/* "
        "is open to anyone who can reach the server. Generate one, e.g. python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))', and put it in the environment or .env")
API_MAX_LIMIT = 500
# Requests per second/min/hour/day: anonymous callers per client address, users (and the admin key) each.
API_THROTTLE_ANON = env("API_THROTTLE_ANON", default="60/min")
API_THROTTLE_USER = env("API_THROTTLE_USER", default="1200/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "snapshots.api_auth.ApiTokenAuthentication",  # first: its header makes a missing credential a 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Reads need a login, any API token or the admin key; writes an operator token, the admin key or a
    # staff session; /health and GET /api/chain-snapshots stay public (snapshots/api_auth.py).
    "DEFAULT_PERMISSION_CLASSES": ["snapshots.api_auth.ReadsNeedCredentials", "snapshots.api_auth.WritesNeedOperator"],
    # Per user (a session's or a token's; the admin key has a budget of its own) and per client address
    # for anonymous callers; a 429 has the error shape and Retry-After. The counts live in CACHES["default"].
    "DEFAULT_THROTTLE_CLASSES": ["snapshots.api_auth.AnonThrottle", "snapshots.api_auth.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": API_THROTTLE_ANON, "user": API_THROTTLE_USER},
    # Reverse proxies in front of the app: 0 = the client is REMOTE_ADDR and X-Forwarded-For is ignored
    # (a client could forge it to dodge the limits); 1 behind one proxy that sets it (nginx, a load balancer).
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
    "DEFAULT_SCHEMA_CLASS": "spx_site.api_schema.AutoSchema",  # documents the error shape on every operation
    "EXCEPTION_HANDLER": "spx_site.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SPX Tools API",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],  # /api/schema and /api/docs: no data, public
    "SWAGGER_UI_DIST": "SIDECAR",  # vendored (drf-spectacular-sidecar), never a CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        # the same field name, different choice sets (the models' own TextChoices; values only, no model import here)
        "TradeStatusEnum": "execution.models.Trade.Status",
        "ModelVersionStatusEnum": ["candidate", "active", "retired"],
        "SourceEnum": "strategy.models.Source",
        "SourceFilterEnum": ["live_paper", "simulated", "backtest"],  # query/body fields: the values
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}
