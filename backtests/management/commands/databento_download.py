import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backtests.data import databento_client
from backtests.data.databento_client import DEFAULT_SCHEMAS, DownloadError, DownloadPlan
from backtests.data.dbn_import import ImportRefused, import_files
from backtests.data.dbn_io import SPX_PARENTS


def _gb(size: int) -> str:
    return f"{size / 1e9:.3f} GB"


class Command(BaseCommand):
    help = (
        "Download OPRA.PILLAR SPX.OPT + SPXW.OPT cbbo-1m and definition files, one per trading day, with the "
        "official databento client. Prints Databento's cost estimate and asks before spending. "
        "Needs DATABENTO_API_KEY in the environment."
    )

    def add_arguments(self, parser):
        parser.add_argument("--start", type=dt.date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=dt.date.fromisoformat, help="last day, inclusive (default: --start)")
        parser.add_argument("--schema", action="append", choices=DEFAULT_SCHEMAS, help="repeatable (default: both)")
        parser.add_argument("--parent", action="append", help=f"parent symbol, repeatable (default: {' '.join(SPX_PARENTS)})")
        parser.add_argument("--out", type=Path, help="folder (default: <MARKET_DATA_DIR>/dbn/OPRA.PILLAR)")
        parser.add_argument("--force", action="store_true", help="download files that are already present again")
        parser.add_argument("--max-cost", type=float, help="refuse if the estimate exceeds this many US dollars")
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--import", dest="run_import", action="store_true", help="import the day files afterwards")

    def handle(
        self, *args, start, end, schema, parent, out, force, max_cost, yes, run_import, **options
    ):
        end = end or start
        if end < start:
            raise CommandError("--end is before --start")
        out_dir = out or databento_client.download_dir()
        try:
            client = databento_client.client_from_env()
            plan = databento_client.download_plan(
                client,
                start=start,
                end=end,
                out_dir=out_dir,
                schemas=tuple(schema or DEFAULT_SCHEMAS),
                parents=tuple(parent or SPX_PARENTS),
                force=force,
            )
        except DownloadError as exc:
            raise CommandError(str(exc)) from exc
        self._print_plan(plan)
        downloaded: list[Path] = []
        if plan.files:
            if max_cost is not None and plan.total_cost_usd > max_cost:
                raise CommandError(f"estimate ${plan.total_cost_usd:,.2f} is above --max-cost ${max_cost:,.2f}; nothing downloaded")
            if not yes and not self._confirm(f"Download {len(plan.files)} file(s) for ${plan.total_cost_usd:,.2f}? [y/N] "):
                self.stdout.write("Nothing downloaded.")
                return
            try:
                downloaded = databento_client.download_run(
                    client, plan, progress=lambda f: self.stdout.write(f"downloaded {f.path.name}")
                )
            except DownloadError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(self.style.SUCCESS(f"downloaded {len(downloaded)} file(s) to {out_dir}"))
        if run_import:
            try:
                results = import_files([*plan.already_present, *downloaded])
            except ImportRefused as exc:
                raise CommandError(f"import refused, nothing written: {exc}") from exc
            self.stdout.write(self.style.SUCCESS(f"imported {len({r.date for r in results})} day(s)"))

    def _print_plan(self, plan: DownloadPlan) -> None:
        self.stdout.write(f"{plan.dataset}  parents {' '.join(plan.parents)}  stype_in parent")
        if plan.already_present:
            self.stdout.write(f"{len(plan.already_present)} file(s) already present, skipped (--force to fetch again)")
        if not plan.files:
            self.stdout.write("Nothing to download.")
            return
        for name, (count, usd, size) in sorted(plan.cost_by_schema().items()):
            self.stdout.write(f"  {name:<11} {count:>4} day file(s)  {_gb(size):>12}  ${usd:,.2f}")
        self.stdout.write(f"Estimated cost: ${plan.total_cost_usd:,.2f} for {_gb(plan.total_billable_bytes)} (Databento metadata.get_cost)")

    def _confirm(self, question: str) -> bool:
        try:
            answer = input(question)
        except EOFError:  # no terminal (cron, CI): never spend without an explicit --yes
            return False
        return answer.strip().lower() in ("y", "yes")
